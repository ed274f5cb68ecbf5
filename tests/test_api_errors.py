"""Cross-cutting error handling: every error is JSON {code, message, details?}, never HTML or a 500."""

from __future__ import annotations

import json

import pytest

from rendezvous import selectors
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

OVER_LIMIT = 256 * 1024 + 1024


def big_json(**fields) -> str:
    return json.dumps({**fields, "padding": "x" * OVER_LIMIT})


@pytest.mark.parametrize("path, who", [
    ("/api/rendezvous/", "p3"),
    ("/api/creneaux/", "med1"),
    ("/api/conversations/", "p1"),
    ("/api/notifications/broadcast/", "sa"),
    ("/api/auth/register/", None),
    ("/api/auth/token/", None),
])
def test_oversize_body_is_json_400(world, path, who):
    actor = getattr(world, who) if who else None
    client = f.client_for(getattr(actor, "user", actor))
    payload = big_json(creneau=world.slot2.pk, email="big@test.fr", password="Un-bon-mot-de-passe",
                       message="x", participant=world.med1.pk)
    with unchanged():
        assert_error(client.post(path, payload, content_type="application/json"), 400, "bad_request")


def test_oversize_message_body_is_json_400(world):
    client = f.client_for(world.p1)
    conv = client.post("/api/conversations/", {"participant": world.med1.pk}, format="json").json()["id"]
    with unchanged():
        assert_error(client.post(f"/api/conversations/{conv}/messages/", json.dumps({"contenu": "x" * OVER_LIMIT}),
                                 content_type="application/json"), 400, "bad_request")


def test_body_just_under_the_limit_is_parsed(world):
    client = f.client_for(world.p3)
    payload = json.dumps({"creneau": world.slot2.pk, "padding": "x" * (200 * 1024)})
    assert client.post("/api/rendezvous/", payload, content_type="application/json").status_code == 201


@pytest.mark.parametrize("raw", [
    "[" * 50_000 + "]" * 50_000,
    '{"a":' * 30_000 + "1" + "}" * 30_000,
])
def test_deeply_nested_json_is_400_not_500(world, raw):
    client = f.client_for(world.p3)
    with unchanged():
        assert_error(client.post("/api/rendezvous/", raw, content_type="application/json"), 400, "parse_error")
    with unchanged():
        assert_error(f.client_for().post("/api/auth/register/", raw, content_type="application/json"), 400,
                     "parse_error")


@pytest.mark.parametrize("raw", ["", "{", "}", "{'a': 1}", "{\"creneau\": 1", "\ufeff{}x", "undefined"])
def test_malformed_json_is_400(world, raw):
    client = f.client_for(world.p3)
    with unchanged():
        r = client.post("/api/rendezvous/", raw, content_type="application/json")
        # An empty body is "no data" (validation), anything else a parse error.
        assert_error(r, 400, "validation_error" if raw == "" else "parse_error")


def test_non_json_content_type_is_415(world):
    client = f.client_for(world.p3)
    with unchanged():
        assert_error(client.post("/api/rendezvous/", {"creneau": world.slot2.pk}), 415, "unsupported_media_type")
        assert_error(client.post("/api/rendezvous/", "creneau=1", content_type="application/x-www-form-urlencoded"),
                     415, "unsupported_media_type")
        assert_error(client.post("/api/rendezvous/", "<x/>", content_type="text/xml"), 415, "unsupported_media_type")


@pytest.mark.parametrize("path", [
    "/api/", "/api/nope/", "/api/rendezvous/1/nope/", "/api/creneaux/serie/x/", "/api/medecins/1/creneaux/",
    "/api/notifications/1/", "/api/auth/", "/api/auth/nope/",
    # No trailing slash: a JSON 404, never an HTML redirect that would drop a POST body.
    "/api/cabinets", "/api/rendezvous", "/api/auth/token",
])
def test_unknown_api_urls_are_json_404(world, path):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.get(path), 404, "not_found")
        assert_error(client.post(path, {}, format="json"), 404, "not_found")
    assert_error(f.client_for().get(path), 404, "not_found")


@pytest.mark.parametrize("method, path", [
    ("put", "/api/creneaux/{slot}/"),
    ("patch", "/api/creneaux/{slot}/"),
    ("delete", "/api/rendezvous/{rdv}/"),
    ("put", "/api/rendezvous/{rdv}/"),
    ("get", "/api/rendezvous/{rdv}/cancel/"),
    ("get", "/api/creneaux/serie/"),
    ("delete", "/api/me/"),
    ("put", "/api/me/"),
    ("get", "/api/auth/token/"),
    ("get", "/api/auth/logout/"),
    ("get", "/api/auth/register/"),
    ("post", "/api/medecins/"),
    ("delete", "/api/medecins/{med}/"),
    ("delete", "/api/notifications/read-all/"),
])
def test_wrong_method_is_json_405(world, method, path):
    path = path.format(slot=world.slot2.pk, rdv=world.rdv1.pk, med=world.med1.pk)
    client = f.client_for(world.sa)
    with unchanged():
        assert_error(getattr(client, method)(path, {}, format="json"), 405, "method_not_allowed")


def test_html_accept_header_still_gets_json(world):
    client = f.client_for(world.p1)
    assert_error(client.get("/api/nope/", HTTP_ACCEPT="text/html"), 404, "not_found")
    assert_error(client.get("/api/creneaux/", HTTP_ACCEPT="text/html"), 406, "not_acceptable")
    # Content negotiation runs before authentication in DRF: 406, still JSON.
    assert_error(f.client_for().get("/api/me/", HTTP_ACCEPT="text/html"), 406, "not_acceptable")
    r = f.client_for(world.p1).get("/api/creneaux/", HTTP_ACCEPT="text/html, application/json;q=0.9")
    assert r.status_code == 200 and r["Content-Type"].startswith("application/json")


def test_unexpected_server_error_is_json_500(world, monkeypatch):
    def boom():
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "medecins", boom)
    r = f.client_for(world.p1).get("/api/medecins/")
    data = assert_error(r, 500, "server_error")
    assert "boom" not in json.dumps(data)  # no internals leak


def test_no_endpoint_answers_html_to_anonymous_clients(world):
    """Every listed endpoint, without a token: a JSON 401 (schema and docs excepted)."""
    client = f.client_for()
    for method, path in [
        ("get", "/api/me/"), ("get", "/api/cabinets/"), ("get", "/api/medecins/"), ("get", "/api/creneaux/"),
        ("post", "/api/creneaux/"), ("post", "/api/creneaux/serie/"), ("delete", f"/api/creneaux/{world.slot2.pk}/"),
        ("get", "/api/rendezvous/"), ("post", "/api/rendezvous/"),
        ("post", f"/api/rendezvous/{world.rdv1.pk}/confirm/"), ("post", f"/api/rendezvous/{world.rdv1.pk}/cancel/"),
        ("get", "/api/conversations/"), ("post", "/api/conversations/"), ("get", "/api/conversations/1/messages/"),
        ("post", "/api/conversations/1/read/"), ("get", "/api/notifications/"), ("post", "/api/notifications/1/read/"),
        ("post", "/api/notifications/read-all/"), ("post", "/api/notifications/broadcast/"),
        ("post", "/api/auth/logout/"),
    ]:
        with unchanged():
            assert_error(getattr(client, method)(path, {}, format="json"), 401, "not_authenticated")
