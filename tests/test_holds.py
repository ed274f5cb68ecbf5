"""Slot holds (``/api/creneaux/{id}/hold/``, attente/): who may book a held slot, what
followers see, expiry without the scheduler, bad input, and (PostgreSQL) the races a hold
loses or wins against a booking and another hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from attente import services as attente
from attente.models import Retenue
from medical_booking.errors import CreneauIndisponible, CreneauRetenu
from publication.selectors import free_slot_rows
from publication.selectors import medecins as fhir_medecins
from realtime.models import Event
from rendezvous import services
from rendezvous.models import Creneau, RendezVous, User
from tests import factories as f
from tests.helpers import assert_error, body, fast_hashers, unchanged  # noqa: F401
from tests.test_api_integrity import run_concurrently


def hold(user, creneau):
    return f.client_for(user).post(f"/api/creneaux/{creneau.pk}/hold/")


def book(user, creneau, **extra):
    return f.client_for(user).post("/api/rendezvous/", {"creneau": creneau.pk, **extra}, format="json")


def events_after(last_id: int) -> list[tuple[str, list[str], dict]]:
    return [(e.name, sorted(r.room for r in e.rooms.all()), e.data)
            for e in Event.objects.filter(pk__gt=last_id).prefetch_related("rooms").order_by("pk")]


def last_event() -> int:
    return Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.fixture
def slot(db):
    med = f.medecin()
    return f.creneau(med, f.future(30))


def test_a_hold_keeps_others_out_and_the_holder_books_it(slot, django_capture_on_commit_callbacks):
    holder, other = f.patient(), f.patient()
    admin = f.admincabinet(slot.medecin.cabinet)
    mark = last_event()
    response = hold(holder, slot)
    data = body(response)
    assert response.status_code == 201, data
    assert data["creneau"]["id"] == slot.pk and data["creneau"]["disponible"] is False and data["offre"] is False
    expire_at = Retenue.objects.get(creneau=slot, active=True).expire_at
    assert timedelta(seconds=295) < expire_at - timezone.now() <= timedelta(seconds=300)
    # Followers of the agenda see it go; nobody's room gets a patient's name.
    assert [(n, rooms) for n, rooms, _ in events_after(mark)] == [
        ("creneau:unavailable", [f"creneaux:{slot.medecin_id}"])]
    # The list shows it unavailable to everyone while held.
    listed = body(f.client_for(other).get(f"/api/creneaux/{slot.pk}/"))
    assert listed["disponible"] is False
    # Another patient, and the practice's staff, are refused with the hold's own code.
    with unchanged():
        err = assert_error(book(other, slot), 409, "creneau_retenu")
        assert "en cours de réservation" in err["message"] and err["details"]["creneau"]["id"] == slot.pk
        with pytest.raises(CreneauRetenu):  # staff are bound by holds too
            services.book_creneau(patient=other, creneau=fresh(slot), acteur=admin)
        assert_error(hold(other, slot), 409, "creneau_retenu")
    # The holder books normally: the hold is used up.
    response = book(holder, slot)
    assert response.status_code == 201, body(response)
    assert not Retenue.objects.filter(active=True).exists()
    assert Retenue.objects.get(creneau=slot).issue == Retenue.Issue.CONSOMMEE


def test_a_new_hold_replaces_the_previous_one_which_comes_back(slot):
    second = f.creneau(slot.medecin, f.future(31))
    p = f.patient()
    assert hold(p, slot).status_code == 201
    mark = last_event()
    assert hold(p, second).status_code == 201
    assert list(Retenue.objects.filter(active=True).values_list("creneau_id", flat=True)) == [second.pk]
    emitted = [(n, rooms, d["id"]) for n, rooms, d in events_after(mark)]
    assert emitted == [
        ("creneau:available", sorted(["role:PATIENT", f"creneaux:{slot.medecin_id}"]), slot.pk),
        ("creneau:unavailable", [f"creneaux:{slot.medecin_id}"], second.pk),
    ]
    # Holding one's own held slot again renews it, nothing else.
    before = Retenue.objects.get(active=True).expire_at
    assert hold(p, second).status_code == 201
    assert Retenue.objects.get(active=True).expire_at >= before and Retenue.objects.count() == 2


def test_release_brings_the_slot_back_and_bad_releases_change_nothing(slot):
    holder, other = f.patient(), f.patient()
    assert hold(holder, slot).status_code == 201
    with unchanged():
        assert_error(f.client_for(other).delete(f"/api/creneaux/{slot.pk}/hold/"), 404, "retenue_introuvable")
        assert_error(f.client_for(holder).delete("/api/creneaux/999999/hold/"), 404, "not_found")
    mark = last_event()
    response = f.client_for(holder).delete(f"/api/creneaux/{slot.pk}/hold/")
    assert response.status_code == 204
    assert [(n, d["id"], d["disponible"]) for n, _, d in events_after(mark)] == [("creneau:available", slot.pk, True)]
    assert book(other, slot).status_code == 201


def test_an_expired_hold_binds_nothing_even_without_the_scheduler(slot):
    holder, other = f.patient(), f.patient()
    assert hold(holder, slot).status_code == 201
    Retenue.objects.update(expire_at=timezone.now() - timedelta(seconds=1))  # a server died holding it
    assert body(f.client_for(other).get(f"/api/creneaux/{slot.pk}/"))["disponible"] is True
    with unchanged():
        err = assert_error(f.client_for(holder).delete(f"/api/creneaux/{slot.pk}/hold/"), 409, "retenue_expiree")
        assert "expire_at" in err["details"]
    # Another patient holds it (the lapsed row is closed under the slot's lock), then books.
    assert hold(other, slot).status_code == 201
    assert book(other, slot).status_code == 201
    assert list(Retenue.objects.order_by("pk").values_list("issue", flat=True)) == ["EXPIREE", "CONSOMMEE"]


def test_the_scheduler_pass_closes_lapsed_holds_and_tells_followers(slot):
    assert hold(f.patient(), slot).status_code == 201
    assert attente.expirer_retenues() == 0  # not yet
    Retenue.objects.update(expire_at=timezone.now() - timedelta(seconds=1))
    mark = last_event()
    assert attente.expirer_retenues() == 1
    assert [(n, rooms, d["id"]) for n, rooms, d in events_after(mark)] == [
        ("creneau:available", sorted(["role:PATIENT", f"creneaux:{slot.medecin_id}"]), slot.pk)]
    assert attente.expirer_retenues() == 0  # once


def test_holds_on_booked_withdrawn_or_past_slots_are_refused_with_a_code(slot):
    p = f.patient()
    booked = f.creneau(slot.medecin, f.future(40))
    f.rendezvous(f.patient(), booked)
    withdrawn = f.creneau(slot.medecin, f.future(41), actif=False)
    past = f.creneau(slot.medecin, timezone.now() - timedelta(hours=2))
    doctor = User.objects.get(pk=slot.medecin_id)
    with unchanged():
        assert_error(hold(p, booked), 409, "creneau_indisponible")
        assert_error(hold(p, withdrawn), 409, "creneau_indisponible")
        assert_error(hold(p, past), 409, "creneau_passe")
        assert_error(hold(doctor, slot), 403, "role_interdit")
        assert_error(f.client_for().post(f"/api/creneaux/{slot.pk}/hold/"), 401)
        assert_error(hold(p, Creneau(pk=10**12)), 404)


def test_a_held_slot_is_not_published_to_fhir(slot):
    meds = {m.pk: m for m in fhir_medecins()}
    assert [row[0] for row in free_slot_rows(timezone.now(), meds)] == [slot.pk]
    attente.retenir_creneau(patient=f.patient(), creneau=slot)
    assert free_slot_rows(timezone.now(), meds) == []
    Retenue.objects.update(expire_at=timezone.now() - timedelta(seconds=1))
    assert [row[0] for row in free_slot_rows(timezone.now(), meds)] == [slot.pk]


def test_a_move_into_a_slot_held_for_another_is_refused(slot):
    other_slot = f.creneau(slot.medecin, f.future(35))
    mover = f.patient()
    rdv = services.book_creneau(patient=mover, creneau=other_slot)
    attente.retenir_creneau(patient=f.patient(), creneau=slot)
    with unchanged():
        assert_error(f.client_for(mover).post(f"/api/rendezvous/{rdv.pk}/move/", {"creneau": slot.pk},
                                              format="json"), 409, "creneau_retenu")


# --- PostgreSQL races -----------------------------------------------------------------------


def fresh(creneau: Creneau) -> Creneau:
    return Creneau.objects.select_related("medecin__cabinet").get(pk=creneau.pk)


@pytest.mark.postgres
@pytest.mark.parametrize("round_", range(4))
def test_hold_against_bookings_the_database_decides(requires_postgres, transactional_db, round_):
    assert connection.vendor == "postgresql"
    slot = f.creneau(f.medecin(), f.future(30))
    people = [f.patient() for _ in range(4)]
    holder = round_ % 4

    def work(i):
        user = User.objects.get(pk=people[i].pk)
        if i == holder:
            return attente.retenir_creneau(patient=user, creneau=fresh(slot))
        return services.book_creneau(patient=user, creneau=fresh(slot))

    results = run_concurrently(4, work)
    wins = [v for kind, v in results if kind == "ok"]
    errors = [v for kind, v in results if kind == "error"]
    assert len(wins) == 1, results
    assert all(isinstance(e, CreneauIndisponible) for e in errors), errors
    booked = list(RendezVous.objects.filter(creneau=slot))
    held = list(Retenue.objects.filter(creneau=slot, active=True))
    if isinstance(wins[0], Retenue):  # the hold came first: every booking saw it
        assert not booked and [h.patient_id for h in held] == [people[holder].pk]
        assert all(isinstance(e, CreneauRetenu) for e in errors), errors
    else:  # a booking came first: the hold saw it
        assert [b.pk for b in booked] == [wins[0].pk] and not held


@pytest.mark.postgres
def test_two_holds_of_one_slot_one_wins(requires_postgres, transactional_db):
    slot = f.creneau(f.medecin(), f.future(30))
    people = [f.patient() for _ in range(4)]
    results = run_concurrently(4, lambda i: attente.retenir_creneau(patient=User.objects.get(pk=people[i].pk),
                                                                   creneau=fresh(slot)))
    wins = [v for kind, v in results if kind == "ok"]
    assert len(wins) == 1, results
    assert all(isinstance(v, CreneauRetenu) for kind, v in results if kind == "error"), results
    assert Retenue.objects.filter(creneau=slot).count() == 1


@pytest.mark.postgres
def test_one_patient_holding_two_slots_at_once_keeps_one_hold(requires_postgres, transactional_db):
    med = f.medecin()
    slots = [f.creneau(med, f.future(30 + i)) for i in range(3)]
    p = f.patient()
    results = run_concurrently(3, lambda i: attente.retenir_creneau(patient=User.objects.get(pk=p.pk),
                                                                   creneau=fresh(slots[i])))
    assert all(kind == "ok" for kind, _ in results), results
    assert Retenue.objects.filter(patient=p, active=True).count() == 1
