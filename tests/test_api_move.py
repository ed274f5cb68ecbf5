"""Moving a booking: ``POST /api/rendezvous/{id}/move/`` — who, the rules, the events, the
access log, bad input (a JSON error and nothing changed)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import JournalAcces
from realtime.models import Event
from rendezvous.models import Creneau, Motif, RendezVous, StatutRendezVous
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

SLOT_KEYS = {"id", "medecin", "debut", "fin", "timezone", "actif", "disponible"}


def who(world, name):
    actor = getattr(world, name)
    return getattr(actor, "user", actor)


def move(client, rdv, creneau):
    return client.post(f"/api/rendezvous/{getattr(rdv, 'pk', rdv)}/move/",
                       {"creneau": getattr(creneau, "pk", creneau)}, format="json")


def events_after(event_id: int) -> list[tuple[str, list[str], dict, str]]:
    return [(e.name, sorted(e.rooms.values_list("room", flat=True)), e.data, e.message)
            for e in Event.objects.filter(pk__gt=event_id).order_by("id")]


def last_event_id() -> int:
    last = Event.objects.order_by("-id").first()
    return last.pk if last else 0


# --- the move itself ------------------------------------------------------------------------


def test_patient_moves_own_booking_to_another_slot_of_the_same_doctor(world):
    before = last_event_id()
    r = move(f.client_for(world.p1), world.rdv1, world.slot2)
    data = body(r)
    assert r.status_code == 200, data
    assert data["id"] == world.rdv1.pk and data["creneau"]["id"] == world.slot2.pk
    assert data["creneau"]["disponible"] is False
    assert data["statut"] == "EN_ATTENTE" and data["motif"] == "Fièvre"
    assert data["ancien_creneau"] == world.slot1.pk and data["deplace_at"] is not None
    # The same JSON as GET.
    assert body(f.client_for(world.p1).get(f"/api/rendezvous/{world.rdv1.pk}/")) == data
    rdv = RendezVous.objects.get(pk=world.rdv1.pk)
    assert rdv.creneau_id == world.slot2.pk and rdv.ancien_creneau_id == world.slot1.pk
    assert rdv.deplace_at is not None and abs(timezone.now() - rdv.deplace_at) < timedelta(minutes=1)
    assert RendezVous.objects.count() == 2  # a move, not a cancellation and a new booking

    events = events_after(before)
    assert [(name, rooms) for name, rooms, _, _ in events] == [
        ("rendezvous:moved", [f"patient:{world.p1.pk}"]),
        ("rendezvous:moved", sorted([f"medecin:{world.med1.pk}", f"admincabinet:{world.admin1.pk}"])),
        ("creneau:unavailable", [f"creneaux:{world.med1.pk}"]),
        ("creneau:available", sorted(["role:PATIENT", f"creneaux:{world.med1.pk}"])),
    ]
    moved = events[0][2]
    assert {k: v for k, v in moved.items() if k != "ancien_creneau"} == {
        k: v for k, v in data.items() if k != "ancien_creneau"}
    assert moved["ancien_creneau"]["id"] == world.slot1.pk
    assert set(moved["ancien_creneau"]) == SLOT_KEYS and moved["ancien_creneau"]["disponible"] is True
    assert events[0][3] == "Rendez-vous déplacé"
    assert Event.objects.get(pk__gt=before, name="rendezvous:moved", rooms__room=f"patient:{world.p1.pk}").notify
    # Slot events carry slot data only (role:PATIENT is role-wide).
    assert events[2][2]["id"] == world.slot2.pk and set(events[2][2]) == SLOT_KEYS
    assert events[3][2]["id"] == world.slot1.pk and set(events[3][2]) == SLOT_KEYS
    assert events[3][2]["disponible"] is True and events[3][3] == "Un créneau s'est libéré"

    journal = JournalAcces.objects.filter(action="DEPLACEMENT")
    assert list(journal.values_list("acteur_id", "objet_id", "patient_id")) == [
        (world.p1.pk, world.rdv1.pk, world.p1.pk)]
    # The old slot is free for anyone now.
    assert f.client_for(world.p3).post("/api/rendezvous/", {"creneau": world.slot1.pk},
                                       format="json").status_code == 201


def test_a_confirmed_booking_stays_confirmed(world):
    assert f.client_for(world.med1.user).post(f"/api/rendezvous/{world.rdv1.pk}/confirm/").status_code == 200
    r = move(f.client_for(world.med1.user), world.rdv1, world.slot2)
    assert r.status_code == 200, body(r)
    assert body(r)["statut"] == "CONFIRME" and body(r)["confirme_at"] is not None
    rdv = RendezVous.objects.get(pk=world.rdv1.pk)
    assert rdv.statut == StatutRendezVous.CONFIRME and rdv.creneau_id == world.slot2.pk


@pytest.mark.parametrize("name", ["p1", "med1", "admin1", "sa"])
def test_who_may_move(world, name):
    r = move(f.client_for(who(world, name)), world.rdv1, world.slot2)
    assert r.status_code == 200, body(r)
    assert JournalAcces.objects.get(action="DEPLACEMENT").acteur_id == who(world, name).pk


@pytest.mark.parametrize("name", ["admin1", "med1"])
def test_staff_move_to_another_doctor_of_the_practice(world, name):
    before = last_event_id()
    r = move(f.client_for(who(world, name)), world.rdv1, world.slot4)
    data = body(r)
    assert r.status_code == 200, data
    assert data["creneau"]["id"] == world.slot4.pk and data["medecin"]["id"] == world.med2.pk
    staff = [rooms for name_, rooms, _, _ in events_after(before) if name_ == "rendezvous:moved"][1]
    # The new doctor, the practice's admins, and the doctor who lost the booking.
    assert staff == sorted([f"medecin:{world.med2.pk}", f"admincabinet:{world.admin1.pk}",
                            f"medecin:{world.med1.pk}"])


# --- refusals: a JSON error, nothing changed --------------------------------------------


def test_patient_cannot_move_to_another_doctor(world):
    with unchanged():
        assert_error(move(f.client_for(world.p1), world.rdv1, world.slot4), 400, "medecin_different")


@pytest.mark.parametrize("name", ["p1", "admin1", "med1", "sa"])
def test_another_practices_slot_is_refused(world, name):
    other = f.creneau(world.med3, f.future(60))
    with unchanged():
        assert_error(move(f.client_for(who(world, name)), world.rdv1, other), 400, "creneau_autre_cabinet")


def test_the_same_slot_is_refused(world):
    with unchanged():
        assert_error(move(f.client_for(world.p1), world.rdv1, world.slot1), 400, "meme_creneau")


def test_a_cancelled_booking_cannot_move(world):
    f.client_for(world.p1).post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json")
    with unchanged():
        assert_error(move(f.client_for(world.admin1), world.rdv1, world.slot2), 409, "rendezvous_annule")


def test_a_past_booking_cannot_move(world):
    # The database refuses a booking on a past slot: build the state a slot's passing leaves.
    slot = f.creneau(world.med1, f.future(90))
    old = f.rendezvous(world.p3, slot)
    Creneau.objects.filter(pk=slot.pk).update(debut=timezone.now() - timedelta(minutes=30),
                                              fin=timezone.now() - timedelta(minutes=1))
    with unchanged():
        assert_error(move(f.client_for(world.admin1), old, world.slot2), 409, "creneau_passe")


def test_a_past_target_is_refused(world):
    past = f.creneau(world.med1, timezone.now() - timedelta(hours=2))
    with unchanged():
        assert_error(move(f.client_for(world.admin1), world.rdv1, past), 409, "creneau_passe")


def test_a_taken_slot_is_409_with_the_slot_and_a_conflict_event(world):
    taken = f.creneau(world.med1, f.future(70))
    other = f.rendezvous(world.p3, taken)
    before = last_event_id()
    with unchanged(events=False):
        data = assert_error(move(f.client_for(world.p1), world.rdv1, taken), 409, "creneau_indisponible")
    assert data["message"] == "Ce créneau n'est plus disponible"  # the same as a booking
    assert data["details"]["creneau"]["id"] == taken.pk and data["details"]["creneau"]["disponible"] is False
    assert [(name, rooms) for name, rooms, _, _ in events_after(before)] == [
        ("creneau:conflict", [f"user:{world.p1.pk}"])]
    assert RendezVous.objects.get(pk=other.pk).creneau_id == taken.pk
    assert not JournalAcces.objects.filter(action="DEPLACEMENT").exists()


def test_a_withdrawn_slot_is_409(world):
    world.slot2.actif = False
    world.slot2.save(update_fields=["actif"])
    with unchanged(events=False):
        data = assert_error(move(f.client_for(world.p1), world.rdv1, world.slot2), 409, "creneau_indisponible")
    assert data["details"]["creneau"]["actif"] is False


def test_a_slot_too_short_for_the_visit_reason_is_refused_even_for_staff(world):
    motif = Motif.objects.create(medecin=world.med1, libelle="Bilan", duree_minutes=45)
    RendezVous.objects.filter(pk=world.rdv1.pk).update(motif_consultation=motif)
    with unchanged():
        data = assert_error(move(f.client_for(world.admin1), world.rdv1, world.slot2), 409, "creneau_trop_court")
    assert data["details"] == {"duree_minutes": 45, "creneau_minutes": 30}
    longer = f.creneau(world.med1, f.future(80), minutes=45)
    assert move(f.client_for(world.admin1), world.rdv1, longer).status_code == 200


@pytest.mark.parametrize("name", ["p2", "p3", "med2", "med3", "admin2"])
def test_someone_elses_booking_is_404(world, name):
    with unchanged():
        assert_error(move(f.client_for(who(world, name)), world.rdv1, world.slot2), 404, "not_found")


def test_unknown_booking_or_slot_is_404(world):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(move(client, 999_999, world.slot2), 404, "not_found")
        assert_error(move(client, world.rdv1, 999_999), 404, "not_found")


@pytest.mark.parametrize("payload", [{}, {"creneau": None}, {"creneau": "abc"}, {"creneau": 0}, {"creneau": -1},
                                     {"creneau": 2**63}, {"creneau": [1]}, {"creneau": {"id": 1}},
                                     {"creneau": 1.5}, [1, 2], "creneau"])
def test_bad_input_is_400(world, payload):
    with unchanged():
        assert_error(f.client_for(world.p1).post(f"/api/rendezvous/{world.rdv1.pk}/move/", payload,
                                                 format="json"), 400, "validation_error")


def test_malformed_json_is_400(world):
    with unchanged():
        assert_error(f.client_for(world.p1).post(f"/api/rendezvous/{world.rdv1.pk}/move/", '{"creneau":',
                                                 content_type="application/json"), 400, "parse_error")


def test_anonymous_is_401_and_get_is_405(world):
    with unchanged():
        assert_error(move(f.client_for(), world.rdv1, world.slot2), 401)
        assert_error(f.client_for(world.p1).get(f"/api/rendezvous/{world.rdv1.pk}/move/"), 405)


def test_the_move_is_in_the_openapi_schema_with_its_errors(world):
    schema = f.client_for().get("/api/schema/?format=json")
    operation = json.loads(schema.content)["paths"]["/api/rendezvous/{id}/move/"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(operation["responses"])
    assert "meme_creneau" in operation["responses"]["400"]["description"]


# --- the practice's deadline (delai_annulation_heures) and notice (preavis) -------------------


def regles(cab, **values):
    for name, value in values.items():
        setattr(cab, name, value)
    cab.save(update_fields=list(values))


def cancel(client, rdv):
    return client.post(f"/api/rendezvous/{rdv.pk}/cancel/", {}, format="json")


def test_patient_too_late_to_cancel_or_move_gets_403_with_the_limit(world):
    regles(world.cab1, delai_annulation_heures=72)  # rdv1 is 48 h ahead
    limite = (world.slot1.debut - timedelta(hours=72)).astimezone(world.cab1.tzinfo).isoformat()
    client = f.client_for(world.p1)
    with unchanged():
        data = assert_error(cancel(client, world.rdv1), 403, "delai_depasse")
        assert data["details"] == {"limite": limite}
        assert "appelez le cabinet" in data["message"]
        data = assert_error(move(client, world.rdv1, world.slot2), 403, "delai_depasse")
        assert data["details"] == {"limite": limite}


@pytest.mark.parametrize("name", ["med1", "admin1", "sa"])
def test_staff_are_not_bound_by_the_deadline(world, name):
    regles(world.cab1, delai_annulation_heures=72)
    client = f.client_for(who(world, name))
    assert move(client, world.rdv1, world.slot2).status_code == 200
    assert cancel(client, world.rdv1).status_code == 200
    assert RendezVous.objects.get(pk=world.rdv1.pk).statut == StatutRendezVous.ANNULE


def test_patient_within_the_deadline_may_cancel_and_move(world):
    regles(world.cab1, delai_annulation_heures=47)  # the limit is an hour ahead
    client = f.client_for(world.p1)
    assert move(client, world.rdv1, world.slot2).status_code == 200  # judged on the current slot (48 h)
    assert cancel(client, world.rdv1).status_code == 200  # slot2 is 49 h ahead: 2 h to spare


def test_the_deadline_is_judged_on_the_current_slot_not_the_target(world):
    regles(world.cab1, delai_annulation_heures=24)
    soon = f.creneau(world.med1, f.future(10))
    client = f.client_for(world.p1)
    assert move(client, world.rdv1, soon).status_code == 200  # from 48 h ahead: allowed
    with unchanged():  # now 10 h ahead: too late to move again or cancel
        assert_error(move(client, world.rdv1, world.slot2), 403, "delai_depasse")
        assert_error(cancel(client, world.rdv1), 403, "delai_depasse")


def test_without_a_deadline_a_patient_cancels_until_the_start_not_after(world):
    slot = f.creneau(world.med1, f.future(90))
    rdv = f.rendezvous(world.p1, slot)
    Creneau.objects.filter(pk=slot.pk).update(debut=timezone.now() - timedelta(minutes=5),
                                              fin=timezone.now() + timedelta(minutes=25))
    with unchanged():
        assert_error(cancel(f.client_for(world.p1), rdv), 403, "delai_depasse")
    assert cancel(f.client_for(world.p1), world.rdv1).status_code == 200


def test_patient_moving_is_bound_by_the_notice_on_the_target_staff_are_not(world):
    regles(world.cab1, preavis_minimum_minutes=120)
    soon = f.creneau(world.med1, f.future(1))
    with unchanged():
        data = assert_error(move(f.client_for(world.p1), world.rdv1, soon), 409, "preavis_insuffisant")
    assert data["details"] == {"preavis_minimum_minutes": 120}
    assert move(f.client_for(world.admin1), world.rdv1, soon).status_code == 200
