"""Staff booking for a patient (POST /api/rendezvous/ with ``patient``): confirmed at once,
its events, who may, and for whom."""

from __future__ import annotations

import pytest

from audit.models import Action, JournalAcces, TypeObjet
from realtime.models import Event, EventRoom
from rendezvous.models import RendezVous, StatutRendezVous
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures


def book(user, creneau, patient=None, **extra):
    payload = {"creneau": getattr(creneau, "pk", creneau), **extra}
    if patient is not None:
        payload["patient"] = getattr(patient, "pk", patient)
    return f.client_for(user).post("/api/rendezvous/", payload, format="json")


def rooms(event) -> set[str]:
    return set(EventRoom.objects.filter(event=event).values_list("room", flat=True))


@pytest.mark.parametrize("name", ["admin1", "med1", "med2", "sa"])
def test_staff_book_for_a_patient_of_the_practice_confirmed_at_once(world, name):
    actor = getattr(getattr(world, name), "user", getattr(world, name))
    r = book(actor, world.slot2, world.p1, motif="Renouvellement")
    assert r.status_code == 201, body(r)
    data = body(r)
    rdv = RendezVous.objects.get(pk=data["id"])
    assert (rdv.patient_id, rdv.statut, rdv.pris_par_id, rdv.motif) == (
        world.p1.pk, StatutRendezVous.CONFIRME, actor.pk, "Renouvellement")
    assert rdv.confirme_at is not None
    assert data["statut"] == "CONFIRME" and data["pris_par"] == actor.pk and data["confirme_at"]
    assert data["patient"]["id"] == world.p1.pk
    assert (data["motif_consultation"], data["deplace_at"], data["ancien_creneau"]) == (None, None, None)
    # Audit: the staff member made it.
    row = JournalAcces.objects.filter(objet_type=TypeObjet.RENDEZVOUS, action=Action.CREATION).get(objet_id=rdv.pk)
    assert (row.acteur_id, row.patient_id) == (actor.pk, world.p1.pk)


def test_events_of_a_staff_booking(world):
    r = book(world.admin1, world.slot2, world.p1)
    rdv_id = body(r)["id"]
    created = Event.objects.get(name="rendezvous:created", data__id=rdv_id)
    assert rooms(created) == {f"patient:{world.p1.pk}"}
    assert created.data["statut"] == "CONFIRME"
    new = Event.objects.get(name="rendezvous:new", data__id=rdv_id)
    assert rooms(new) == {f"medecin:{world.med1.pk}", f"admincabinet:{world.admin1.pk}"}
    assert new.data["statut"] == "CONFIRME" and new.message == "Nouveau rendez-vous confirmé (pris par le cabinet)"
    unavailable = Event.objects.filter(name="creneau:unavailable", data__id=world.slot2.pk).get()
    assert rooms(unavailable) == {f"creneaux:{world.med1.pk}"}
    assert "patient" not in unavailable.data
    # No second "confirmed" event: it was born confirmed.
    assert not Event.objects.filter(name="rendezvous:confirmed", data__id=rdv_id).exists()


def test_a_patient_booking_still_awaits_confirmation_and_says_so(world):
    r = book(world.p3, world.slot2)
    assert body(r)["statut"] == "EN_ATTENTE" and body(r)["pris_par"] == world.p3.pk
    new = Event.objects.get(name="rendezvous:new", data__id=body(r)["id"])
    assert new.message == "Nouveau rendez-vous en attente de confirmation"


def test_a_record_made_on_the_phone_can_be_booked_then_appears_in_the_list(world):
    rec = body(f.client_for(world.admin1).post(
        "/api/patients/", {"first_name": "Jeanne", "last_name": "Durand", "telephone": "0612345678"}, format="json"))
    r = book(world.admin1, world.slot4, rec["id"])
    assert r.status_code == 201 and body(r)["patient"]["id"] == rec["id"]


def test_a_patient_known_by_email_can_be_booked_after_the_409(world):
    # p3 never booked in cab1: invisible, so booking them is a 404...
    with unchanged():
        assert_error(book(world.admin1, world.slot2, world.p3), 404, "patient_inconnu")
    # ...until the desk proves it knows their e-mail (the 409 names them).
    r = f.client_for(world.admin1).post("/api/patients/", {"first_name": "X", "last_name": "Y",
                                        "telephone": "0612345678", "email": world.p3.email}, format="json")
    assert body(r)["details"] == {"patient": world.p3.pk}
    assert book(world.admin1, world.slot2, world.p3).status_code == 201
    # Now they are the practice's patient.
    listed = body(f.client_for(world.admin1).get("/api/patients/"))["results"]
    assert world.p3.pk in [p["id"] for p in listed]
    # Another practice did not learn anything.
    with unchanged():
        assert_error(book(world.admin2, world.slot3, world.p3), 404, "patient_inconnu")


@pytest.mark.parametrize("patient", ["p2", "p3", "admin1", "unknown", "med1"])
def test_booking_for_someone_not_a_visible_patient_is_404(world, patient):
    target = {"unknown": 999999, "med1": world.med1.pk}.get(patient) or getattr(world, patient)
    with unchanged():
        assert_error(book(world.admin1, world.slot2, target), 404, "patient_inconnu")


@pytest.mark.parametrize("name", ["admin2", "med3"])
def test_staff_of_another_practice_cannot_book_its_slots(world, name):
    actor = getattr(getattr(world, name), "user", getattr(world, name))
    with unchanged():
        assert_error(book(actor, world.slot2, world.p1), 403, "permission_denied")
        # ...not even for their own patient.
        assert_error(book(actor, world.slot2, world.p2), 403, "permission_denied")


def test_a_patient_cannot_book_for_another(world):
    with unchanged():
        assert_error(book(world.p3, world.slot2, world.p1), 403, "permission_denied")
    # Naming themself is fine.
    assert book(world.p3, world.slot2, world.p3).status_code == 201


def test_staff_without_a_patient_are_still_refused(world):
    with unchanged():
        assert_error(book(world.admin1, world.slot2), 403, "role_interdit")


def test_staff_booking_a_taken_slot_is_409_with_the_conflict_to_the_staff(world):
    with unchanged(events=False):
        data = assert_error(book(world.admin1, world.slot1, world.p1), 409, "creneau_indisponible")
    assert data["details"]["creneau"]["id"] == world.slot1.pk
    conflict = Event.objects.get(name="creneau:conflict")
    assert rooms(conflict) == {f"user:{world.admin1.pk}"}


@pytest.mark.parametrize("value", ["x", 0, -1, 10**30, [1], {"id": 1}, 1.5, True])
def test_a_bad_patient_field_is_400(world, value):
    with unchanged():
        data = assert_error(book(world.admin1, world.slot2, **{"patient": value}), 400, "validation_error")
    assert "patient" in data["details"]


def test_bookings_list_filters_for_the_day_view(world):
    book(world.admin1, world.slot4, world.p1)
    client = f.client_for(world.admin1)
    day = world.slot4.debut.astimezone(world.cab1.tzinfo).date().isoformat()
    got = body(client.get("/api/rendezvous/", {"cabinet": world.cab1.pk, "date": day}))["results"]
    assert world.slot4.pk in [r["creneau"]["id"] for r in got]
    got = body(client.get("/api/rendezvous/", {"creneau__medecin": world.med2.pk}))["results"]
    assert {r["creneau"]["id"] for r in got} == {world.slot4.pk}
    got = body(client.get("/api/rendezvous/", {"patient": world.p1.pk}))["results"]
    assert {r["patient"]["id"] for r in got} == {world.p1.pk}
    assert_error(client.get("/api/rendezvous/", {"date": "demain"}), 400)
    assert_error(client.get("/api/rendezvous/", {"cabinet": "x"}), 400)


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31"])
def test_extreme_days_in_the_date_filter_are_fine(world, value):
    r = f.client_for(world.sa).get("/api/rendezvous/", {"date": value})
    assert r.status_code == 200 and body(r)["results"] == []
