"""The notification centre: list, read, read-all, and broadcasts with their permissions."""

from __future__ import annotations

import pytest

from realtime.models import Event, EventRoom
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

NOTIFICATION_FIELDS = {"id", "event", "type", "message", "data", "lu", "created_at"}


def who(world, name):
    actor = getattr(world, name)
    return getattr(actor, "user", actor)


def centre(user, query=""):
    r = f.client_for(user).get(f"/api/notifications/{query}")
    data = body(r)
    assert r.status_code == 200
    return data


def events_of(user) -> list[str]:
    return [n["event"] for n in centre(user)["results"]]


def broadcast(actor, **payload):
    return f.client_for(actor).post("/api/notifications/broadcast/", payload, format="json")


# --- list / read ---------------------------------------------------------------------------


def test_patient_sees_own_booking_notifications(world):
    data = centre(world.p1)
    assert set(data) == {"count", "next", "previous", "results", "non_lues"}
    assert data["count"] == 1 and data["non_lues"] == 1
    (n,) = data["results"]
    assert set(n) == NOTIFICATION_FIELDS
    assert (n["event"], n["type"], n["message"], n["lu"]) == (
        "rendezvous:created", "success", "Rendez-vous créé avec succès", False)
    assert n["data"]["id"] == world.rdv1.pk and n["data"]["patient"]["id"] == world.p1.pk


def test_notifications_are_private(world):
    assert events_of(world.p3) == []
    assert events_of(world.med1.user) == ["rendezvous:new"]
    assert events_of(world.med2.user) == []  # same practice, not their agenda
    assert events_of(world.admin1) == ["rendezvous:new"]
    assert [n["data"]["id"] for n in centre(world.admin1)["results"]] == [world.rdv1.pk]
    assert [n["data"]["id"] for n in centre(world.admin2)["results"]] == [world.rdv3.pk]


def test_slot_events_are_not_in_the_centre(world):
    assert Event.objects.filter(name="creneau:available").exists()
    assert "creneau:available" not in events_of(world.p3)


def test_mark_one_read(world):
    (n,) = centre(world.p1)["results"]
    r = f.client_for(world.p1).post(f"/api/notifications/{n['id']}/read/")
    assert r.status_code == 204 and r.content == b""
    data = centre(world.p1)
    assert data["non_lues"] == 0 and data["results"][0]["lu"] is True
    assert centre(world.p1, "?non_lues=true")["results"] == []
    # Idempotent.
    client = f.client_for(world.p1)
    with unchanged():
        assert client.post(f"/api/notifications/{n['id']}/read/").status_code == 204


def test_mark_someone_elses_notification_is_404(world):
    (n,) = centre(world.p1)["results"]
    client = f.client_for(world.p2)
    with unchanged():
        assert_error(client.post(f"/api/notifications/{n['id']}/read/"), 404, "not_found")


@pytest.mark.parametrize("path", ["999999", "abc", "99999999999999999999999", "-5"])
def test_mark_unknown_notification_is_404(world, path):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.post(f"/api/notifications/{path}/read/"), 404, "not_found")


def test_read_all(world):
    broadcast(world.sa, message="Maintenance ce soir")
    assert centre(world.p1)["non_lues"] == 2
    r = f.client_for(world.p1).post("/api/notifications/read-all/")
    assert r.status_code == 200 and body(r) == {"non_lues": 0}
    data = centre(world.p1)
    assert data["non_lues"] == 0 and all(n["lu"] for n in data["results"])
    # Other users are untouched.
    assert centre(world.p2)["non_lues"] == 2
    # A later notification is unread again.
    broadcast(world.sa, message="Encore")
    assert centre(world.p1)["non_lues"] == 1


def test_non_lues_filter(world):
    broadcast(world.sa, message="A")
    (first, *_rest) = centre(world.p1)["results"]
    f.client_for(world.p1).post(f"/api/notifications/{first['id']}/read/")
    unread = centre(world.p1, "?non_lues=true")["results"]
    assert [n["lu"] for n in unread] == [False] and unread[0]["id"] != first["id"]


def test_notifications_need_authentication(world):
    assert_error(f.client_for().get("/api/notifications/"), 401, "not_authenticated")
    assert_error(f.client_for().post("/api/notifications/read-all/"), 401, "not_authenticated")


def test_wrong_methods_are_405(world):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.get("/api/notifications/read-all/"), 405, "method_not_allowed")
        assert_error(client.get("/api/notifications/broadcast/"), 405, "method_not_allowed")
        assert_error(client.post("/api/notifications/", {}, format="json"), 405, "method_not_allowed")


# --- broadcast -----------------------------------------------------------------------------


def test_superadmin_broadcasts_to_everyone(world):
    r = broadcast(world.sa, message="Maintenance ce soir", type="warning")
    data = body(r)
    assert r.status_code == 201
    assert set(data) == NOTIFICATION_FIELDS
    assert (data["event"], data["type"], data["message"], data["lu"]) == (
        "notification:general", "warning", "Maintenance ce soir", False)
    assert data["data"] == {"cible": {"tous": True}}
    event = Event.objects.get(pk=data["id"])
    assert event.to_everyone and not EventRoom.objects.filter(event=event).exists()
    for name in ("p1", "p3", "med1", "med3", "admin2", "sa"):
        assert "notification:general" in events_of(who(world, name)), name


def test_broadcast_type_defaults_to_info(world):
    assert body(broadcast(world.sa, message="Bonjour"))["type"] == "info"


def test_superadmin_broadcasts_to_a_role(world):
    data = body(broadcast(world.sa, message="Aux patients", role="PATIENT"))
    assert data["data"] == {"cible": {"role": "PATIENT"}}
    assert "notification:general" in events_of(world.p3)
    assert "notification:general" not in events_of(world.med1.user)
    assert list(EventRoom.objects.filter(event_id=data["id"]).values_list("room", flat=True)) == ["role:PATIENT"]


def test_superadmin_broadcasts_to_a_user(world):
    data = body(broadcast(world.sa, message="Pour vous", user=world.p2.pk))
    assert data["data"] == {"cible": {"user": world.p2.pk}}
    assert "notification:general" in events_of(world.p2)
    assert "notification:general" not in events_of(world.p1)


def test_superadmin_broadcasts_to_a_practice(world):
    data = body(broadcast(world.sa, message="Fermeture", cabinet=world.cab1.pk))
    assert data["data"] == {"cible": {"cabinet": world.cab1.pk}}
    # The practice's staff and its patients with an upcoming booking; nobody else.
    for name in ("admin1", "med1", "med2", "p1"):
        assert "notification:general" in events_of(who(world, name)), name
    for name in ("admin2", "med3", "p2", "p3"):
        assert "notification:general" not in events_of(who(world, name)), name


@pytest.mark.parametrize("payload", [{}, {"cabinet": "own"}])
def test_practice_admin_broadcasts_to_own_practice(world, payload):
    if payload.get("cabinet") == "own":
        payload = {"cabinet": world.cab1.pk}
    r = broadcast(world.admin1, message="Le cabinet ferme à 17h", **payload)
    assert r.status_code == 201, r.content
    assert body(r)["data"] == {"cible": {"cabinet": world.cab1.pk}}
    assert "notification:general" in events_of(world.med2.user)
    assert "notification:general" not in events_of(world.med3.user)
    assert "notification:general" not in events_of(world.p3)


@pytest.mark.parametrize("target", ["cabinet", "role", "user"])
def test_practice_admin_cannot_broadcast_beyond_the_practice(world, target):
    value = {"cabinet": world.cab2.pk, "role": "PATIENT", "user": world.p3.pk}[target]
    client = f.client_for(world.admin1)
    with unchanged():
        assert_error(client.post("/api/notifications/broadcast/", {"message": "x", target: value}, format="json"),
                     403, "permission_denied")


@pytest.mark.parametrize("name", ["med1", "p1"])
def test_doctors_and_patients_cannot_broadcast(world, name):
    client = f.client_for(who(world, name))
    with unchanged():
        assert_error(client.post("/api/notifications/broadcast/", {"message": "Spam"}, format="json"), 403,
                     "permission_denied")
        assert_error(client.post("/api/notifications/broadcast/", {"message": "Spam", "cabinet": world.cab1.pk},
                                 format="json"), 403, "permission_denied")


@pytest.mark.parametrize("payload", [
    {},
    {"message": ""},
    {"message": None},
    {"message": {"a": 1}},
    {"message": "x" * 1001},
    {"message": "x", "type": "urgent"},
    {"message": "x", "role": "DIEU"},
    {"message": "x", "role": "PATIENT", "user": 1},
    {"message": "x", "user": "abc"},
    {"message": "x", "cabinet": [1]},
    {"message": "x", "user": 10**30},
    [{"message": "x"}],
])
def test_broadcast_bad_input_is_400(world, payload):
    client = f.client_for(world.sa)
    with unchanged():
        assert_error(client.post("/api/notifications/broadcast/", payload, format="json"), 400, "validation_error")


def test_broadcast_unknown_target_is_404(world):
    client = f.client_for(world.sa)
    with unchanged():
        assert_error(client.post("/api/notifications/broadcast/", {"message": "x", "user": 999999}, format="json"),
                     404, "not_found")
        assert_error(client.post("/api/notifications/broadcast/", {"message": "x", "cabinet": 999999},
                                 format="json"), 404, "not_found")


def test_broadcast_malformed_json_is_400(world):
    client = f.client_for(world.sa)
    with unchanged():
        assert_error(client.post("/api/notifications/broadcast/", '{"message": "x"', content_type="application/json"),
                     400, "parse_error")
