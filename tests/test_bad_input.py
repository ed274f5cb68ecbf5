"""Bad input is a JSON 4xx, never a 500 (issue 10, item 4), fixed where it enters.

- JSON bodies: invalid Unicode (a lone surrogate) is refused by the parser (orjson).
- Ids in URLs: one path converter for every viewset route (medical_booking/routing.py).
- Dates: one bounded field for every date filter and date field (medical_booking/fields.py).
- Static paths: served inside the header middleware, refusals as JSON (medical_booking/static.py).
"""

from __future__ import annotations

import http.client
import json

import pytest

from medical_booking.fields import MAX_ID
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body, unchanged

from .live import http as live_http
from .live import login

fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

LONE = ["\\ud800", "\\udfff", "a\\ud800b", "\\ud800\\ud800", "\\udc00\\ud800"]


def raw_post(client, path: str, raw: str | bytes):
    return client.post(path, raw, content_type="application/json")


# --- lone surrogates in JSON bodies ----------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("escape", LONE)
@pytest.mark.parametrize("who, path, template", [
    ("p1", "/api/auth/logout/", '{"refresh": "%s"}'),
    ("sa", "/api/notifications/broadcast/", '{"message": "Bonjour", "type": "%s"}'),
    ("sa", "/api/notifications/broadcast/", '{"message": "%s"}'),
    (None, "/api/auth/token/", '{"email": "%s@test.fr", "password": "x"}'),
    (None, "/api/auth/token/", '{"email": "a@test.fr", "password": "%s"}'),
    (None, "/api/auth/token/refresh/", '{"refresh": "%s"}'),
    (None, "/api/auth/register/", '{"email": "n@test.fr", "password": "Un-bon-mot-%s-de-passe"}'),
    ("p3", "/api/rendezvous/", '{"creneau": 1, "motif": "%s"}'),
    ("p1", "/api/rendezvous/{rdv1}/cancel/", '{"motif": "%s"}'),
    ("p1", "/api/conversations/", '{"participant": 1, "%s": 2}'),  # in a key
    ("med1", "/api/creneaux/", '{"debut": "%s", "fin": "2030-01-01T10:00"}'),
])
def test_lone_surrogate_in_a_json_body_is_400(world, who, path, template, escape):
    actor = getattr(world, who) if who else None
    client = f.client_for(getattr(actor, "user", actor))
    with unchanged():
        r = raw_post(client, path.format(rdv1=world.rdv1.pk), template % escape)
        assert_error(r, 400, "parse_error")


@pytest.mark.django_db
def test_lone_surrogate_in_patch_me_and_in_a_message_is_400(world):
    client = f.client_for(world.p1)
    conv = client.post("/api/conversations/", {"participant": world.med1.pk}, format="json").json()["id"]
    with unchanged():
        assert_error(client.patch("/api/me/", '{"first_name": "\\ud800"}', content_type="application/json"),
                     400, "parse_error")
        assert_error(raw_post(client, f"/api/conversations/{conv}/messages/", '{"contenu": "\\ud83d"}'),
                     400, "parse_error")
    # Raw bytes that encode a surrogate (CESU-style, invalid UTF-8) are refused as well.
    with unchanged():
        assert_error(raw_post(client, f"/api/conversations/{conv}/messages/", b'{"contenu": "\xed\xa0\x80"}'),
                     400, "parse_error")


@pytest.mark.django_db
def test_a_valid_surrogate_pair_is_accepted_and_stored(world):
    """The control: an emoji written as an escaped pair is valid JSON and valid Unicode."""
    client = f.client_for(world.p1)
    conv = client.post("/api/conversations/", {"participant": world.med1.pk}, format="json").json()["id"]
    r = raw_post(client, f"/api/conversations/{conv}/messages/", '{"contenu": "Merci \\ud83d\\ude00"}')
    assert r.status_code == 201, r.content
    assert body(r)["contenu"] == "Merci \U0001f600"


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ['{"creneau": NaN}', '{"creneau": Infinity}', '{"creneau": 1e400}',
                                 '{"creneau": 1, "motif": "\\x41"}', '["' + "[" * 1100 + '"]'])
def test_non_standard_json_is_400(world, raw):
    with unchanged():
        assert_error(raw_post(f.client_for(world.p3), "/api/rendezvous/", raw), 400,
                     "validation_error" if raw.startswith('["') else "parse_error")


@pytest.mark.django_db
def test_nesting_deeper_than_the_parser_allows_is_400(world):
    with unchanged():
        assert_error(raw_post(f.client_for(world.p3), "/api/rendezvous/", "[" * 1100 + "]" * 1100), 400,
                     "parse_error")


@pytest.mark.django_db
def test_a_declared_non_utf8_charset_is_honoured(world):
    raw = json.dumps({"creneau": world.slot2.pk, "motif": "Fièvre"}, ensure_ascii=False).encode("latin-1")
    r = f.client_for(world.p3).post("/api/rendezvous/", raw, content_type="application/json; charset=latin-1")
    assert r.status_code == 201, r.content
    assert body(r)["motif"] == "Fièvre"
    with unchanged():  # a Latin-1 body read as UTF-8 is invalid UTF-8: 400
        assert_error(f.client_for(world.p3).post("/api/rendezvous/", raw, content_type="application/json"), 400,
                     "parse_error")


# --- ids in URLs out of BIGINT range -----------------------------------------------------

ID_ROUTES = [
    ("get", "/api/cabinets/{id}/"),
    ("get", "/api/medecins/{id}/"),
    ("patch", "/api/medecins/{id}/"),
    ("get", "/api/cabinets/{id}/regles/"),
    ("patch", "/api/cabinets/{id}/regles/"),
    ("get", "/api/medecins/{id}/motifs/"),
    ("post", "/api/medecins/{id}/motifs/"),
    ("patch", "/api/medecins/{id}/motifs/{id}/"),
    ("get", "/api/creneaux/{id}/"),
    ("delete", "/api/creneaux/{id}/"),
    ("get", "/api/rendezvous/{id}/"),
    ("post", "/api/rendezvous/{id}/confirm/"),
    ("post", "/api/rendezvous/{id}/cancel/"),
    ("get", "/api/conversations/{id}/"),
    ("get", "/api/conversations/{id}/messages/"),
    ("post", "/api/conversations/{id}/messages/"),
    ("post", "/api/conversations/{id}/read/"),
    ("post", "/api/notifications/{id}/read/"),
    ("get", "/api/medecins/{id}/horaires/"),
    ("put", "/api/medecins/{id}/horaires/"),
    ("get", "/api/medecins/{id}/absences/"),
    ("post", "/api/medecins/{id}/absences/"),
    ("delete", "/api/medecins/{id}/absences/{id}/"),
    ("delete", "/api/medecins/987654321/absences/{id}/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("method, route", ID_ROUTES)
@pytest.mark.parametrize("value", [2**63, 2**64, 10**30, "99999999999999999999999999999999999999", MAX_ID,
                                   "-1", "1.5", "1e3", "0x10", "%201", "abc"])
def test_ids_out_of_range_or_malformed_are_json_404(world, method, route, value):
    """Issue 10: /api/medecins/9223372036854775808/ overflowed SQLite's integer binding (500)."""
    path = route.format(id=value)
    for user in (world.sa, world.p1):
        client = f.client_for(user)
        with unchanged():
            assert_error(getattr(client, method)(path, {"contenu": "x"}, format="json"), 404, "not_found")


@pytest.mark.django_db
def test_ids_in_range_still_resolve(world):
    """The control: the converter lets real ids (leading zeros too) reach the view."""
    client = f.client_for(world.p1)
    assert body(client.get(f"/api/medecins/{world.med1.pk}/"))["id"] == world.med1.pk
    assert body(client.get(f"/api/rendezvous/00{world.rdv1.pk}/"))["id"] == world.rdv1.pk
    assert client.get("/api/creneaux/serie/").status_code == 405  # an action, not an id


# --- dates out of range ----------------------------------------------------------------------

@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/creneaux/", "/api/rendezvous/"])
@pytest.mark.parametrize("name", ["date_from", "date_to"])
@pytest.mark.parametrize("value", ["0001-01-01", "0001-01-01T00:00:00", "0001-01-01T00:00:00+14:00",
                                   "9999-12-31", "9999-12-31T23:59:59", "9999-12-31T23:59:59-12:00",
                                   "1899-12-31T23:59", "3000-01-01"])
def test_dates_out_of_range_are_400(world, path, name, value):
    """Issue 10: ?date_from=0001-01-01 overflowed when converted to UTC (OverflowError, 500)."""
    data = assert_error(f.client_for(world.sa).get(path, {name: value}), 400, "validation_error")
    assert list(data["details"]) == [name], data


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/creneaux/", "/api/rendezvous/"])
def test_dates_at_the_bounds_are_accepted(world, path):
    client = f.client_for(world.sa)
    r = client.get(path, {"date_from": "1900-01-01T00:00:00+14:00", "date_to": "2999-12-31T23:59:59-12:00"})
    assert r.status_code == 200, r.content
    assert body(r)["count"] > 0


@pytest.mark.django_db
@pytest.mark.parametrize("path, extra", [("/api/creneaux/", {}), ("/api/creneaux/serie/", {"duree_minutes": 30})])
@pytest.mark.parametrize("debut, fin", [
    ("0001-01-01T00:00:00+14:00", "0001-01-01T01:00:00+14:00"),
    ("0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00"),  # a naive date made aware in Paris overflowed
    ("0001-01-01T00:00:00", "0001-01-01T01:00:00"),
    ("9999-12-31T22:00:00", "9999-12-31T23:59:59"),
    ("9999-12-31T22:00:00-12:00", "9999-12-31T23:59:59-12:00"),
    ("2998-12-31T23:00:00", "9999-12-31T23:59:59"),
])
def test_date_fields_out_of_range_are_400_on_the_field(world, path, extra, debut, fin):
    client = f.client_for(world.med1.user)
    with unchanged():
        data = assert_error(client.post(path, {"debut": debut, "fin": fin, **extra}, format="json"), 400,
                            "validation_error")
    assert set(data["details"]) <= {"debut", "fin"} and data["details"], data


# --- static paths (a live server: the raw path must reach daphne unnormalised) --------------

def raw_get(url: str, path: str, method: str = "GET") -> tuple[int, dict, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)  # sent as is, no normalisation
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.mark.e2e
@pytest.mark.parametrize("path", [
    "/static/../settings.py", "/static/../medical_booking/settings.py", "/static/../../etc/passwd",
    "/static/%2e%2e/manage.py", "/static/..%2fmanage.py", "/static/%2e%2e%2fmedical_booking%2fsettings.py",
    "/static/js/../../manage.py", "/static/js/../../../../../../etc/passwd", "/static//etc/passwd",
    "/static/..\\manage.py", "/static/%00", "/static/app.css%00.js", "/static/nope.js", "/static/",
    "/static/js/", "/static/../", "/static/%ff%fe",
])
def test_static_traversal_and_unknown_files_are_json_4xx(live, path):
    status, headers, content = raw_get(live.url, path)
    assert status in (400, 404), (status, content[:300])
    assert headers["content-type"].startswith("application/json"), (path, headers, content[:300])
    data = json.loads(content)
    assert isinstance(data["code"], str) and isinstance(data["message"], str), data
    assert headers["x-content-type-options"] == "nosniff"
    assert b"SECRET_KEY" not in content and b"root:" not in content


@pytest.mark.e2e
def test_static_files_carry_nosniff_and_csp_and_refuse_other_methods(live):
    status, headers, content = raw_get(live.url, "/static/js/app.js")
    assert status == 200 and b"import" in content
    assert headers["content-type"].startswith("text/javascript")
    assert headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in headers["content-security-policy"]
    for method in ("POST", "PUT", "DELETE"):
        status, headers, content = raw_get(live.url, "/static/js/app.js", method)
        assert status == 405 and json.loads(content)["code"] == "method_not_allowed", (method, status)
        assert headers["allow"] == "GET, HEAD"
    # The server keeps serving.
    assert login(live.url, "alice@demo.fr")["access"]
    assert live_http("GET", f"{live.url}/api/schema/")[0] == 200
