"""Production settings (issue 10, item 1): no development key, no DEBUG, a clean --deploy check.

Production mode is REDIS_URL set, a DATABASE_URL other than SQLite, or DJANGO_ENV=production.
Each case runs ``manage.py`` in a real subprocess with exactly the environment given
(``manage.py check`` connects to no database or Redis, so these need no services).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time

import jwt
import pytest

from medical_booking.settings import DEV_SECRET_KEY

from .live import ROOT, http, login
from .rt import Recorder

pytestmark = pytest.mark.e2e  # every case runs manage.py (or daphne) in a process

REAL_KEY = secrets.token_urlsafe(64)
POSTGRES = "postgres://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
# The documented production environment (README, "Configuration").
PRODUCTION_ENV = {
    "DATABASE_URL": POSTGRES, "REDIS_URL": REDIS, "SECRET_KEY": REAL_KEY,
    "ALLOWED_HOSTS": "rdv.example.fr", "CORS_ALLOWED_ORIGINS": "https://rdv.example.fr",
    "HTTPS": "true",
}


def run_manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "DJANGO_ENV", "HTTPS",
                         "ALLOWED_HOSTS", "CORS_ALLOWED_ORIGINS", "TRUST_X_FORWARDED_PROTO"}}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("env, message", [
    ({"DATABASE_URL": POSTGRES}, "SECRET_KEY must be set in production"),
    ({"REDIS_URL": REDIS}, "SECRET_KEY must be set in production"),
    ({"DJANGO_ENV": "production"}, "SECRET_KEY must be set in production"),
    ({"DATABASE_URL": POSTGRES, "REDIS_URL": REDIS, "SECRET_KEY": DEV_SECRET_KEY},
     "SECRET_KEY is a development key"),
    ({"REDIS_URL": REDIS, "SECRET_KEY": "django-insecure-" + REAL_KEY}, "SECRET_KEY is a development key"),
    ({"REDIS_URL": REDIS, "SECRET_KEY": "x" * 20}, "SECRET_KEY is too weak"),
    ({"REDIS_URL": REDIS, "SECRET_KEY": "abab" * 30}, "SECRET_KEY is too weak"),  # long, 2 distinct
    ({"DATABASE_URL": POSTGRES, "SECRET_KEY": REAL_KEY, "DEBUG": "true"}, "DEBUG must be off in production"),
])
def test_production_refuses_to_load(env, message):
    result = run_manage(env, "check")
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr, result.stderr[-2000:]


def test_embedded_mode_starts_with_no_configuration():
    """The other side: no variable at all (SQLite, in-memory layer) runs on the development key."""
    result = run_manage({}, "check")
    assert result.returncode == 0, result.stderr[-2000:]


def test_production_with_a_real_key_loads():
    result = run_manage({"DATABASE_URL": POSTGRES, "REDIS_URL": REDIS, "SECRET_KEY": REAL_KEY}, "check")
    assert result.returncode == 0, result.stderr[-2000:]


def test_deploy_check_is_clean_for_the_documented_production_environment():
    result = run_manage(PRODUCTION_ENV, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "System check identified no issues" in result.stdout, result.stdout


def test_deploy_check_without_https_warns():
    """The check can fail: without HTTPS on, HSTS, the redirect and secure cookies are missing."""
    result = run_manage({**PRODUCTION_ENV, "HTTPS": "false"}, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr, result.stderr[-3000:]


def test_https_settings_from_the_environment():
    code = ("from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, "
            "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
            "s.SECURE_HSTS_PRELOAD, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))")
    off = run_manage({}, "shell", "-v", "0", "-c", code)
    assert off.stdout.split() == ["0", "False", "False", "False", "True", "True", "None"], off.stderr[-2000:]
    on = run_manage({"HTTPS": "true", "HSTS_SECONDS": "600", "TRUST_X_FORWARDED_PROTO": "true"},
                    "shell", "-v", "0", "-c", code)
    assert on.stdout.strip() == "600 True True True True True ('HTTP_X_FORWARDED_PROTO', 'https')", on.stderr[-2000:]


def test_cache_on_redis_in_production_with_the_deployment_prefix():
    code = ("from django.conf import settings as s; c = s.CACHES['default']; "
            "print(c['BACKEND'], c.get('LOCATION'), c.get('KEY_PREFIX'))")
    prod = run_manage({"REDIS_URL": REDIS, "SECRET_KEY": REAL_KEY, "CHANNEL_PREFIX": "cabinet-a"},
                      "shell", "-v", "0", "-c", code)
    assert prod.stdout.split() == ["django.core.cache.backends.redis.RedisCache", REDIS, "cabinet-a:cache"], (
        prod.stderr[-2000:])
    embedded = run_manage({}, "shell", "-v", "0", "-c", code)
    assert embedded.stdout.split()[0] == "django.core.cache.backends.locmem.LocMemCache", embedded.stderr[-2000:]


def forged_token(user_id: int) -> str:
    """What an attacker makes with the public development key: an access token for anyone."""
    now = int(time.time())
    return jwt.encode({"token_type": "access", "exp": now + 600, "iat": now, "jti": secrets.token_hex(16),
                       "user_id": str(user_id)}, DEV_SECRET_KEY, algorithm="HS256")


@pytest.mark.e2e
def test_a_token_signed_with_the_development_key_is_refused_in_production(cluster):
    """Issue 10: with no SECRET_KEY, a development-key token for user 1 was a SUPERADMIN."""
    admin = login(cluster.url, "admin@demo.fr")
    status, me = http("GET", f"{cluster.url}/api/me/", token=admin["access"])
    assert status == 200 and me["role"] == "SUPERADMIN", me
    assert cluster.env["SECRET_KEY"] != DEV_SECRET_KEY
    forged = forged_token(me["id"])
    for server in cluster.servers:
        status, body = http("GET", f"{server.url}/api/me/", token=forged)
        assert (status, body["code"]) == (401, "token_not_valid"), body
        status, body = http("POST", f"{server.url}/api/notifications/broadcast/",
                            {"message": "pwned"}, token=forged)
        assert (status, body["code"]) == (401, "token_not_valid"), body

    async def socket_refusal(url: str) -> str | None:
        client = Recorder("forged")
        try:
            return await client.try_connect(url, token=forged)
        finally:
            await client.close()

    for server in cluster.servers:
        assert asyncio.run(socket_refusal(server.url)) == "Token invalide"
    status, body = http("GET", f"{cluster.url}/api/notifications/", token=admin["access"])
    assert status == 200 and all(n["message"] != "pwned" for n in body["results"])
