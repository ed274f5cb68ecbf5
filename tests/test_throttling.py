"""Throttling (issue 10, item 6): 429 JSON with Retry-After on login, sign-up, broadcast.

In-process tests set small rates per test (each test has fresh counters, tests/conftest.py);
the end-to-end test runs two daphne processes sharing Redis and spreads attempts over both.
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model

from medical_booking.throttling import PasswordResetEmailThrottle, PasswordResetIPThrottle
from realtime.models import Event
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, unchanged

from .live import free_port, http, start_stack

fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures
pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings):
    """Set some throttle rates for this test: ``rates(login_email="3/min")``."""

    def apply(num_proxies: int | None = None, **scopes: str) -> None:
        rest = copy.deepcopy(settings.REST_FRAMEWORK)
        rest["DEFAULT_THROTTLE_RATES"].update(scopes)
        if num_proxies is not None:
            rest["NUM_PROXIES"] = num_proxies
        settings.REST_FRAMEWORK = rest

    return apply


def assert_throttled(response, period: int) -> dict:
    data = assert_error(response, 429, "throttled")
    assert data["message"] == "Trop de requêtes, réessayez plus tard"
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= period, retry_after
    assert data["details"] == {"retry_after": retry_after}, data
    return data


def login(email: str, password: str, ip: str = "127.0.0.1", **headers):
    return f.client_for().post("/api/auth/token/", {"email": email, "password": password}, format="json",
                               REMOTE_ADDR=ip, **headers)


def test_login_is_throttled_per_client_ip(world, rates):
    rates(login_ip="3/min")
    statuses = [login(f"inconnu{i}@test.fr", "mauvais").status_code for i in range(3)]
    assert statuses == [401, 401, 401]
    assert_throttled(login(world.p1.email, f.PASSWORD), 60)  # even the right password, from this IP
    assert login(world.p1.email, f.PASSWORD, ip="10.0.0.2").status_code == 200  # another IP


def test_wrong_passwords_for_one_email_end_in_429_whatever_the_ip(world, rates):
    """Issue 10: 200 wrong passwords in a row were 200 × 401. With the default rates."""
    email_limit = int(django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["login_email"].split("/")[0])
    statuses = [login(world.p1.email, f"faux-{i}", ip=f"10.1.{i // 250}.{i % 250}").status_code for i in range(200)]
    assert statuses == [401] * email_limit + [429] * (200 - email_limit)
    assert_throttled(login(world.p1.email, f.PASSWORD, ip="10.9.9.9"), 3600)  # locked, right password too
    # The address is counted however it is written; other accounts are unaffected.
    assert_throttled(login(f"  {world.p1.email.upper()} ", "faux", ip="10.9.9.8"), 3600)
    assert login(world.p2.email, f.PASSWORD, ip="10.9.9.7").status_code == 200


def test_x_forwarded_for_is_ignored_unless_proxies_are_declared(world, rates):
    rates(login_ip="2/min")
    for i in range(2):
        assert login("x@test.fr", "faux", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code == 401
    # Forged X-Forwarded-For values do not make new clients: the peer address is the client.
    assert_throttled(login("x@test.fr", "faux", HTTP_X_FORWARDED_FOR="203.0.113.99"), 60)


def test_behind_one_declared_proxy_the_last_forwarded_address_is_the_client(world, rates):
    rates(login_ip="2/min", num_proxies=1)
    client_a = {"HTTP_X_FORWARDED_FOR": "198.51.100.7, 203.0.113.1"}  # spoofed first entry, then the proxy's view
    for i in range(2):
        assert login(f"a{i}@test.fr", "faux", ip="10.0.0.1", **client_a).status_code == 401
    assert_throttled(login("a@test.fr", "faux", ip="10.0.0.1",
                           HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.1"), 60)  # same client, new spoof
    assert login("b@test.fr", "faux", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 401


def test_sign_up_is_throttled_per_ip(rates):
    rates(register="2/hour")
    client = f.client_for()
    for i in range(2):
        r = client.post("/api/auth/register/", {"email": f"new{i}@test.fr", "password": "Un-bon-mot-de-passe"},
                        format="json")
        assert r.status_code == 201, r.content
    with unchanged():
        assert_throttled(client.post("/api/auth/register/", {"email": "new9@test.fr",
                                                              "password": "Un-bon-mot-de-passe"}, format="json"), 3600)
    assert not get_user_model().objects.filter(email="new9@test.fr").exists()


def test_broadcast_is_throttled_per_sender(world, rates):
    rates(broadcast="2/min")
    client = f.client_for(world.sa)
    for i in range(2):
        assert client.post("/api/notifications/broadcast/", {"message": f"Info {i}"}, format="json").status_code == 201
    with unchanged():
        assert_throttled(client.post("/api/notifications/broadcast/", {"message": "Encore"}, format="json"), 60)
    # Another sender has their own budget.
    r = f.client_for(world.admin1).post("/api/notifications/broadcast/", {"message": "Cabinet"}, format="json")
    assert r.status_code == 201, r.content
    assert Event.objects.filter(name="notification:general").count() == 3


def test_a_patients_refused_broadcasts_spend_only_their_own_budget(world, rates):
    rates(broadcast="1/min")
    patient = f.client_for(world.p1)
    assert_error(patient.post("/api/notifications/broadcast/", {"message": "x"}, format="json"), 403)
    assert_throttled(patient.post("/api/notifications/broadcast/", {"message": "x"}, format="json"), 60)
    r = f.client_for(world.sa).post("/api/notifications/broadcast/", {"message": "Info"}, format="json")
    assert r.status_code == 201, r.content


def test_password_reset_scopes_are_defined():
    """The endpoint comes with issue 14; its throttles (per IP, per e-mail) are ready."""
    rates = django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert PasswordResetIPThrottle().rate == rates["password_reset_ip"]
    assert PasswordResetEmailThrottle().rate == rates["password_reset_email"]
    assert PasswordResetEmailThrottle().num_requests >= 1


def test_a_cache_outage_lets_requests_through(world, settings):
    """Throttling fails open: Redis down must not turn logins into 500s."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    assert login(world.p1.email, f.PASSWORD).status_code == 200
    assert login(world.p1.email, "faux").status_code == 401
    r = f.client_for(world.sa).post("/api/notifications/broadcast/", {"message": "Panne"}, format="json")
    assert r.status_code == 201, r.content


# --- two servers sharing Redis --------------------------------------------------------------

@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_the_limit_is_shared_by_two_servers_on_redis(tmp_path, requires_postgres, requires_redis):
    stack = start_stack(tmp_path, servers=2, postgres=True, redis=True, extra_env={
        "THROTTLE_LOGIN_EMAIL": "10/hour", "THROTTLE_LOGIN_IP": "1000/min", "THROTTLE_REGISTER": "4/hour",
    })
    try:
        urls = [s.url for s in stack.servers]

        def attempt(i: int, email: str, password: str = "faux") -> tuple[int, object]:
            return http("POST", f"{urls[i % 2]}/api/auth/token/", {"email": email, "password": password})

        # Sequential, alternating servers: exactly the first 10 are checked, then 429.
        answers = [attempt(i, "alice@demo.fr") for i in range(16)]
        assert [s for s, _ in answers] == [401] * 10 + [429] * 6, answers
        assert all(b["code"] == "throttled" and b["details"]["retry_after"] > 0 for _, b in answers[10:])
        assert attempt(0, "alice@demo.fr", "demo1234")[0] == 429
        assert attempt(1, "bob@demo.fr", "demo1234")[0] == 200

        # Concurrent, 40 attempts over both servers: the counter is atomic, exactly 10 pass.
        with ThreadPoolExecutor(20) as pool:
            statuses = sorted(s for s, _ in pool.map(lambda i: attempt(i, "chloe@demo.fr"), range(40)))
        assert statuses == [401] * 10 + [429] * 30, statuses

        # Sign-up per IP, shared as well.
        signups = [http("POST", f"{urls[i % 2]}/api/auth/register/",
                        {"email": f"e2e{i}@test.fr", "password": "Un-bon-mot-de-passe"})[0] for i in range(6)]
        assert signups == [201] * 4 + [429] * 2, signups
    finally:
        stack.close()
