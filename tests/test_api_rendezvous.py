"""Bookings: create (and the 409 conflict), list per role, confirm, cancel, bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from realtime.models import Event, EventRoom
from rendezvous.models import Creneau, RendezVous, StatutRendezVous
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body, ids, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

RDV_FIELDS = {
    "id", "statut", "motif", "patient", "medecin", "creneau", "annule_par", "motif_annulation",
    "confirme_at", "annule_at", "created_at", "updated_at",
    "motif_consultation", "pris_par", "deplace_at", "ancien_creneau", "annulable_jusqu_a",
}


def who(world, name):
    actor = getattr(world, name)
    return getattr(actor, "user", actor)


def book(client, creneau, motif=None):
    payload = {"creneau": getattr(creneau, "pk", creneau)}
    if motif is not None:
        payload["motif"] = motif
    return client.post("/api/rendezvous/", payload, format="json")


def slot_json(creneau: Creneau, *, disponible: bool, actif: bool = True) -> dict:
    tz = creneau.medecin.cabinet.tzinfo
    return {
        "id": creneau.pk, "medecin": creneau.medecin_id, "debut": creneau.debut.astimezone(tz).isoformat(),
        "fin": creneau.fin.astimezone(tz).isoformat(), "timezone": "Europe/Paris", "actif": actif,
        "disponible": disponible,
    }


# --- create ------------------------------------------------------------------------------


def test_patient_books_a_free_slot(world):
    r = book(f.client_for(world.p3), world.slot2, "Toux persistante")
    data = body(r)
    assert r.status_code == 201
    assert set(data) == RDV_FIELDS
    rdv = RendezVous.objects.get(pk=data["id"])
    assert (rdv.patient_id, rdv.creneau_id, rdv.statut, rdv.motif) == (
        world.p3.pk, world.slot2.pk, StatutRendezVous.EN_ATTENTE, "Toux persistante")
    assert data["statut"] == "EN_ATTENTE" and data["motif"] == "Toux persistante"
    assert data["patient"] == {"id": world.p3.pk, "first_name": world.p3.first_name,
                               "last_name": world.p3.last_name, "role": "PATIENT"}
    assert data["medecin"] == {"id": world.med1.pk, "first_name": world.med1.user.first_name,
                               "last_name": "Martin", "specialite": "Médecine générale",
                               "cabinet": world.cab1.pk}
    assert data["creneau"] == slot_json(world.slot2, disponible=False)
    assert (data["annule_par"], data["motif_annulation"], data["confirme_at"], data["annule_at"]) == (
        None, "", None, None)
    # The slot is no longer offered.
    assert world.slot2.pk not in ids(f.client_for(world.p1).get("/api/creneaux/?disponible=true"))
    # rendezvous:created for the patient, rendezvous:new for the doctor and the practice admins
    # (the world's own bookings emitted theirs too: take this booking's).
    created = Event.objects.filter(name="rendezvous:created").latest("id")
    assert created.data["id"] == rdv.pk and created.data["creneau"]["disponible"] is False
    assert set(EventRoom.objects.filter(event=created).values_list("room", flat=True)) == {
        f"patient:{world.p3.pk}"}
    unavailable = Event.objects.filter(name="creneau:unavailable").latest("id")
    assert unavailable.data == slot_json(world.slot2, disponible=False)
    new = Event.objects.filter(name="rendezvous:new").latest("id")
    assert set(EventRoom.objects.filter(event=new).values_list("room", flat=True)) == {
        f"medecin:{world.med1.pk}", f"admincabinet:{world.admin1.pk}"}


def test_motif_is_optional(world):
    r = book(f.client_for(world.p3), world.slot4)
    assert r.status_code == 201 and body(r)["motif"] == ""


def test_second_booking_of_a_slot_is_409_with_the_slot(world):
    client = f.client_for(world.p3)
    with unchanged(events=False):
        r = book(client, world.slot1)
    assert r.status_code == 409
    assert body(r) == {
        "code": "creneau_indisponible",
        "message": "Ce créneau n'est plus disponible",
        "details": {"creneau": slot_json(world.slot1, disponible=False)},
    }
    # creneau:conflict, to the requester only, with the slot and nothing about the patient.
    conflict = Event.objects.get(name="creneau:conflict")
    assert list(EventRoom.objects.filter(event=conflict).values_list("room", flat=True)) == [
        f"user:{world.p3.pk}"]
    assert conflict.message == "Ce créneau n'est plus disponible" and conflict.type == "error"
    assert conflict.data == slot_json(world.slot1, disponible=False)


def test_booking_the_same_slot_twice_by_the_same_patient_is_409(world):
    client = f.client_for(world.p1)
    with unchanged(events=False):
        assert_error(book(client, world.slot1), 409, "creneau_indisponible")


def test_two_patients_one_slot_exactly_one_wins(world):
    first = book(f.client_for(world.p1), world.slot4)
    second = book(f.client_for(world.p2), world.slot4)
    assert (first.status_code, second.status_code) == (201, 409)
    assert RendezVous.objects.filter(creneau=world.slot4).count() == 1


def test_a_cancelled_booking_frees_the_slot(world):
    assert f.client_for(world.p1).post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json") \
        .status_code == 200
    listed = body(f.client_for(world.p3).get(f"/api/creneaux/{world.slot1.pk}/"))
    assert listed["disponible"] is True
    r = book(f.client_for(world.p3), world.slot1)
    assert r.status_code == 201
    assert RendezVous.objects.filter(creneau=world.slot1).count() == 2
    assert RendezVous.objects.filter(creneau=world.slot1, statut__in=["EN_ATTENTE", "CONFIRME"]).count() == 1
    # ...and taken again, it is a conflict again.
    assert_error(book(f.client_for(world.p2), world.slot1), 409, "creneau_indisponible")


def test_the_patient_who_cancelled_can_book_again(world):
    client = f.client_for(world.p1)
    assert client.post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json").status_code == 200
    assert book(client, world.slot1).status_code == 201


@pytest.mark.parametrize("name", ["med1", "med2", "admin1", "sa"])
def test_only_patients_book(world, name):
    client = f.client_for(who(world, name))
    with unchanged():
        assert_error(book(client, world.slot2), 403, "role_interdit")


def test_booking_a_past_slot_is_refused(world):
    past = f.creneau(world.med1, timezone.now() - timedelta(hours=1))
    client = f.client_for(world.p3)
    with unchanged():
        assert_error(book(client, past), 400, "creneau_passe")


def test_booking_a_withdrawn_slot_is_409(world):
    world.slot2.actif = False
    world.slot2.save(update_fields=["actif"])
    client = f.client_for(world.p3)
    with unchanged(events=False):
        r = book(client, world.slot2)
    assert r.status_code == 409
    assert body(r) == {
        "code": "creneau_indisponible", "message": "Ce créneau n'est plus disponible",
        "details": {"creneau": slot_json(world.slot2, disponible=False, actif=False)},
    }


def test_booking_an_unknown_slot_is_404(world):
    client = f.client_for(world.p3)
    with unchanged():
        assert_error(book(client, 999999), 404, "not_found")
        assert_error(book(client, 2**62), 404, "not_found")


@pytest.mark.parametrize("payload", [
    {"creneau": "abc"},
    {"creneau": "1; DROP TABLE rendezvous_rendezvous"},
    {"creneau": None},
    {"creneau": [1]},
    {"creneau": {"id": 1}},
    {"creneau": True},
    {"creneau": 1.5},
    {"creneau": 0},
    {"creneau": -3},
    {"creneau": 10**30},
    {"motif": "sans créneau"},
    {},
])
def test_booking_with_bad_fields_is_400(world, payload):
    client = f.client_for(world.p3)
    with unchanged():
        data = assert_error(client.post("/api/rendezvous/", payload, format="json"), 400, "validation_error")
    assert "creneau" in data["details"]


@pytest.mark.parametrize("motif", [{"x": 1}, ["a"], None, "m" * 501])
def test_booking_with_bad_motif_is_400(world, motif):
    client = f.client_for(world.p3)
    with unchanged():
        data = assert_error(client.post("/api/rendezvous/", {"creneau": world.slot2.pk, "motif": motif},
                                        format="json"), 400, "validation_error")
    assert "motif" in data["details"]


@pytest.mark.parametrize("raw", ['[{"creneau": 1}]', '"creneau"', "42", "null", "true"])
def test_booking_with_a_non_object_body_is_400(world, raw):
    client = f.client_for(world.p3)
    with unchanged():
        assert_error(client.post("/api/rendezvous/", raw, content_type="application/json"), 400,
                     "validation_error")


@pytest.mark.parametrize("raw", ['{"creneau": ', "{'creneau': 1}", '{"creneau": 1,}', "\x00\xff", "NaN"])
def test_booking_with_malformed_json_is_400(world, raw):
    client = f.client_for(world.p3)
    with unchanged():
        assert_error(client.post("/api/rendezvous/", raw, content_type="application/json"), 400, "parse_error")


def test_booking_anonymous_is_401(world):
    with unchanged():
        assert_error(book(f.client_for(), world.slot2), 401, "not_authenticated")


# --- list and detail -----------------------------------------------------------------------


@pytest.mark.parametrize("name, expected", [
    ("p1", ["rdv1"]), ("p2", ["rdv3"]), ("p3", []),
    ("med1", ["rdv1"]), ("med2", []), ("med3", ["rdv3"]),
    ("admin1", ["rdv1"]), ("admin2", ["rdv3"]),
    ("sa", ["rdv1", "rdv3"]),
])
def test_list_shows_only_what_the_role_may_see(world, name, expected):
    got = ids(f.client_for(who(world, name)).get("/api/rendezvous/"))
    assert sorted(got) == sorted(getattr(world, e).pk for e in expected)


def test_list_fields(world):
    data = body(f.client_for(world.p1).get("/api/rendezvous/"))
    assert data["count"] == 1
    assert set(data["results"][0]) == RDV_FIELDS
    assert data["results"][0]["motif"] == "Fièvre"


def test_admin_sees_every_doctor_of_the_practice(world):
    r = book(f.client_for(world.p3), world.slot4)  # med2, cab1
    assert r.status_code == 201
    got = ids(f.client_for(world.admin1).get("/api/rendezvous/"))
    assert sorted(got) == sorted([world.rdv1.pk, body(r)["id"]])
    assert ids(f.client_for(world.med1.user).get("/api/rendezvous/")) == [world.rdv1.pk]


def test_list_filters(world):
    client = f.client_for(world.sa)
    assert ids(client.get(f"/api/rendezvous/?medecin={world.med3.pk}")) == [world.rdv3.pk]
    assert ids(client.get("/api/rendezvous/?statut=CONFIRME")) == []
    assert sorted(ids(client.get("/api/rendezvous/?statut=EN_ATTENTE"))) == sorted([world.rdv1.pk, world.rdv3.pk])
    assert_error(client.get("/api/rendezvous/?medecin=abc"), 400, "validation_error")


@pytest.mark.parametrize("name", ["p1", "med1", "admin1", "sa"])
def test_detail_for_those_who_may_see_it(world, name):
    r = f.client_for(who(world, name)).get(f"/api/rendezvous/{world.rdv1.pk}/")
    assert r.status_code == 200 and body(r)["id"] == world.rdv1.pk


@pytest.mark.parametrize("name", ["p2", "p3", "med2", "med3", "admin2"])
def test_someone_elses_booking_is_404(world, name):
    assert_error(f.client_for(who(world, name)).get(f"/api/rendezvous/{world.rdv1.pk}/"), 404, "not_found")


@pytest.mark.parametrize("path", ["999999", "abc", "99999999999999999999999", "-1"])
def test_unknown_booking_is_404(world, path):
    client = f.client_for(world.sa)
    with unchanged():
        assert_error(client.get(f"/api/rendezvous/{path}/"), 404, "not_found")
        assert_error(client.post(f"/api/rendezvous/{path}/confirm/"), 404, "not_found")
        assert_error(client.post(f"/api/rendezvous/{path}/cancel/", {}, format="json"), 404, "not_found")


def test_bookings_cannot_be_edited_or_deleted(world):
    client = f.client_for(world.sa)
    with unchanged():
        assert_error(client.put(f"/api/rendezvous/{world.rdv1.pk}/", {"statut": "CONFIRME"}, format="json"), 405,
                     "method_not_allowed")
        assert_error(client.patch(f"/api/rendezvous/{world.rdv1.pk}/", {"statut": "CONFIRME"}, format="json"), 405,
                     "method_not_allowed")
        assert_error(client.delete(f"/api/rendezvous/{world.rdv1.pk}/"), 405, "method_not_allowed")
        assert_error(client.get(f"/api/rendezvous/{world.rdv1.pk}/confirm/"), 405, "method_not_allowed")


# --- confirm -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["med1", "admin1", "sa"])
def test_confirm_by_doctor_or_practice(world, name):
    r = f.client_for(who(world, name)).post(f"/api/rendezvous/{world.rdv1.pk}/confirm/")
    data = body(r)
    assert r.status_code == 200
    assert set(data) == RDV_FIELDS
    assert data["statut"] == "CONFIRME" and data["confirme_at"] is not None
    world.rdv1.refresh_from_db()
    assert world.rdv1.statut == StatutRendezVous.CONFIRME
    event = Event.objects.filter(name="rendezvous:confirmed").first()
    assert event is not None
    assert f"patient:{world.p1.pk}" in EventRoom.objects.filter(event__name="rendezvous:confirmed") \
        .values_list("room", flat=True)


def test_confirm_twice_is_idempotent(world):
    client = f.client_for(world.med1.user)
    first = body(client.post(f"/api/rendezvous/{world.rdv1.pk}/confirm/"))
    with unchanged():
        r = client.post(f"/api/rendezvous/{world.rdv1.pk}/confirm/")
    assert r.status_code == 200 and body(r)["confirme_at"] == first["confirme_at"]


def test_patient_cannot_confirm(world):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.post(f"/api/rendezvous/{world.rdv1.pk}/confirm/"), 403, "permission_denied")


@pytest.mark.parametrize("name", ["med2", "med3", "admin2", "p2"])
def test_confirm_someone_elses_booking_is_404(world, name):
    client = f.client_for(who(world, name))
    with unchanged():
        assert_error(client.post(f"/api/rendezvous/{world.rdv1.pk}/confirm/"), 404, "not_found")


def test_confirm_a_cancelled_booking_is_409(world):
    client = f.client_for(world.med1.user)
    assert client.post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json").status_code == 200
    with unchanged():
        assert_error(client.post(f"/api/rendezvous/{world.rdv1.pk}/confirm/"), 409, "rendezvous_annule")


# --- cancel --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, role", [("p1", "PATIENT"), ("med1", "MEDECIN"), ("admin1", "ADMINCABINET"),
                                        ("sa", "SUPERADMIN")])
def test_cancel_by_any_party(world, name, role):
    r = f.client_for(who(world, name)).post(f"/api/rendezvous/{world.rdv1.pk}/cancel/",
                                            {"motif": "Empêchement"}, format="json")
    data = body(r)
    assert r.status_code == 200
    assert data["statut"] == "ANNULE" and data["annule_at"] is not None
    assert data["annule_par"] == role and data["motif_annulation"] == "Empêchement"
    assert data["creneau"]["disponible"] is True
    world.rdv1.refresh_from_db()
    assert world.rdv1.statut == StatutRendezVous.ANNULE and world.rdv1.annule_par_id == who(world, name).pk


def test_cancel_a_confirmed_booking(world):
    f.client_for(world.med1.user).post(f"/api/rendezvous/{world.rdv1.pk}/confirm/")
    r = f.client_for(world.p1).post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json")
    assert r.status_code == 200 and body(r)["statut"] == "ANNULE"


def test_cancel_without_body(world):
    r = f.client_for(world.p1).post(f"/api/rendezvous/{world.rdv1.pk}/cancel/")
    assert r.status_code == 200 and body(r)["motif_annulation"] == ""


def test_cancel_twice_is_409(world):
    client = f.client_for(world.p1)
    assert client.post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json").status_code == 200
    with unchanged():
        assert_error(client.post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json"), 409,
                     "rendezvous_annule")


@pytest.mark.parametrize("name", ["p2", "p3", "med2", "med3", "admin2"])
def test_cancel_someone_elses_booking_is_404(world, name):
    client = f.client_for(who(world, name))
    with unchanged():
        assert_error(client.post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json"), 404,
                     "not_found")


@pytest.mark.parametrize("payload", [{"motif": {"a": 1}}, {"motif": ["x"]}, {"motif": "m" * 501}, [1, 2]])
def test_cancel_with_bad_input_is_400(world, payload):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", payload, format="json"), 400,
                     "validation_error")


def test_cancel_with_malformed_json_is_400(world):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", '{"motif":',
                                 content_type="application/json"), 400, "parse_error")


def test_patient_view_of_a_cancellation_hides_which_staff_member(world):
    f.client_for(world.admin1).post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json")
    data = body(f.client_for(world.p1).get(f"/api/rendezvous/{world.rdv1.pk}/"))
    assert data["annule_par"] == "ADMINCABINET"
