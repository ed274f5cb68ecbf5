"""Security headers (issue 10, item 8): CSP and nosniff everywhere, HSTS and secure cookies
behind HTTPS, statics included (they are served outside Django's middleware chain).

Statics are exercised through the real ASGI handler in-process (asgiref's communicator);
the live-server checks of raw static paths are in tests/test_bad_input.py.
"""

from __future__ import annotations

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import override_settings

from medical_booking.static import StaticFilesHandler
from serving.handlers import OneHopASGIHandler
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error

fast_hashers = helpers.fast_hashers  # fixture

HTTPS_ON = {"SECURE_SSL_REDIRECT": True, "SECURE_HSTS_SECONDS": 600, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
            "SECURE_HSTS_PRELOAD": True, "SESSION_COOKIE_SECURE": True, "CSRF_COOKIE_SECURE": True,
            "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")}


async def asgi_get(path: str, headers: dict | None = None, method: str = "GET") -> tuple[int, dict, bytes]:
    """One request through StaticFilesHandler(Django), as daphne would make it."""
    app = StaticFilesHandler(OneHopASGIHandler())
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"testserver"), *((k.lower().encode(), v.encode())
                                                     for k, v in (headers or {}).items())],
             "scheme": "http", "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
             "http_version": "1.1", "asgi": {"version": "3.0"}}
    comm = ApplicationCommunicator(app, scope)
    await comm.send_input({"type": "http.request", "body": b""})
    start = await comm.receive_output(10)
    body = b""
    while True:
        message = await comm.receive_output(10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}, body


@pytest.mark.django_db
async def test_static_files_carry_the_site_headers():
    status, headers, body = await asgi_get("/static/js/app.js")
    assert status == 200 and body
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "strict-transport-security" not in headers  # HTTPS is off by default


@pytest.mark.django_db
async def test_with_https_on_statics_redirect_and_carry_hsts():
    with override_settings(**HTTPS_ON):
        status, headers, _ = await asgi_get("/static/app.css")
        assert (status, headers["location"]) == (301, "https://testserver/static/app.css")
        status, headers, body = await asgi_get("/static/app.css", {"X-Forwarded-Proto": "https"})
        assert status == 200 and body
        assert headers["strict-transport-security"] == "max-age=600; includeSubDomains; preload"
        assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.django_db
async def test_static_refusals_are_json_with_the_headers():
    for path, expected in (("/static/../settings.py", 400), ("/static/nope.js", 404)):
        status, headers, body = await asgi_get(path)
        assert status == expected, (path, status, body[:200])
        assert headers["content-type"] == "application/json"
        assert headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" in headers
    status, headers, body = await asgi_get("/static/app.css", method="POST")
    assert (status, headers["allow"]) == (405, "GET, HEAD")


@pytest.mark.django_db
def test_django_responses_carry_csp_and_nosniff(client):
    for path in ("/", "/api/nope/", "/admin/login/", "/api/docs/"):
        r = client.get(path)
        assert r["X-Content-Type-Options"] == "nosniff", path
        policy = dict(d.strip().split(" ", 1) for d in r["Content-Security-Policy"].split(";"))
        assert policy["script-src"] == policy["style-src"] == "'self'", (path, policy)
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"


@pytest.mark.django_db
def test_with_https_on_django_redirects_and_sets_hsts_and_secure_cookies(client):
    with override_settings(**HTTPS_ON):
        r = client.get("/admin/login/")
        assert (r.status_code, r["Location"]) == (301, "https://testserver/admin/login/")
        r = client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
        assert r.status_code == 200
        assert r["Strict-Transport-Security"] == "max-age=600; includeSubDomains; preload"
        assert r.cookies["csrftoken"]["secure"] is True


# --- passwords like the account's own attributes ----------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("password", ["jean.dupont@exemple.fr", "JEAN.DUPONT@EXEMPLE.FR", "jean.dupont",
                                      "dupontjean1"])
def test_register_refuses_a_password_like_the_email_or_name(password):
    with helpers.unchanged():
        data = assert_error(f.client_for().post("/api/auth/register/", {
            "email": "jean.dupont@exemple.fr", "password": password, "first_name": "Jean", "last_name": "Dupontjean",
        }, format="json"), 400, "validation_error")
    assert list(data["details"]) == ["password"], data
    assert "trop semblable" in data["details"]["password"][0], data


@pytest.mark.django_db
def test_register_accepts_an_unrelated_password():
    r = f.client_for().post("/api/auth/register/", {"email": "jean.dupont@exemple.fr",
                                                     "password": "Tartine-de-Confiture-42"}, format="json")
    assert r.status_code == 201, r.content
