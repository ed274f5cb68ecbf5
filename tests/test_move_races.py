"""A move races on PostgreSQL, threads with their own connections: against bookings of its
target slot, against other moves, a swap, a cancellation of the same booking. The database
decides (partial unique index, row locks); the loser gets the booking's 409 and nothing
of theirs changes."""

from __future__ import annotations

import pytest
from django.db import connection

from medical_booking.errors import Conflit, CreneauIndisponible
from rendezvous import services
from rendezvous.models import Creneau, RendezVous, StatutRendezVous, User
from tests import factories as f
from tests import helpers
from tests.helpers import body
from tests.test_api_integrity import run_concurrently

fast_hashers = helpers.fast_hashers  # fixture

pytestmark = [pytest.mark.postgres]

ROUNDS = 4
BOOKERS = 4


def fresh(model, obj):
    """The object as its own thread's connection reads it."""
    qs = model.objects.select_related("creneau__medecin__cabinet") if model is RendezVous else (
        model.objects.select_related("medecin__cabinet"))
    return qs.get(pk=obj.pk)


def snapshot(rdv: RendezVous) -> tuple:
    return RendezVous.objects.filter(pk=rdv.pk).values_list(
        "creneau_id", "statut", "deplace_at", "ancien_creneau_id", "updated_at").get()


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_a_move_and_bookings_race_for_one_slot_exactly_one_wins(requires_postgres, transactional_db, round_):
    assert connection.vendor == "postgresql"
    med = f.medecin()
    old, target = f.creneau(med, f.future(24)), f.creneau(med, f.future(26))
    mover = f.patient()
    rdv = services.book_creneau(patient=mover, creneau=old)
    before = snapshot(rdv)
    bookers = [f.patient() for _ in range(BOOKERS + 1)]

    def work(i):
        if i == round_ % (BOOKERS + 1):  # the mover starts at a different place each round
            return services.move_rendezvous(acteur=User.objects.get(pk=mover.pk), rdv=fresh(RendezVous, rdv),
                                            creneau=fresh(Creneau, target))
        return services.book_creneau(patient=User.objects.get(pk=bookers[i].pk), creneau=fresh(Creneau, target))

    results = run_concurrently(BOOKERS + 1, work)
    wins = [value for kind, value in results if kind == "ok"]
    errors = [value for kind, value in results if kind == "error"]
    assert len(wins) == 1, results
    assert all(isinstance(e, CreneauIndisponible) and e.status == 409 for e in errors), errors
    active = list(RendezVous.objects.filter(creneau=target, statut__in=["EN_ATTENTE", "CONFIRME"]))
    assert [r.pk for r in active] == [wins[0].pk]
    assert RendezVous.objects.count() == (1 if wins[0].pk == rdv.pk else 2)  # losers wrote nothing
    if wins[0].pk == rdv.pk:  # the move won: the old slot is free again
        assert not RendezVous.objects.filter(creneau=old).exclude(statut="ANNULE").exists()
        assert RendezVous.objects.get(pk=rdv.pk).ancien_creneau_id == old.pk
    else:  # a booking won: the mover keeps the old slot, untouched
        assert snapshot(rdv) == before


def test_moves_race_for_one_slot_exactly_one_wins(requires_postgres, transactional_db):
    med = f.medecin()
    admin = f.admincabinet(med.cabinet)
    target = f.creneau(med, f.future(30))
    rdvs = [services.book_creneau(patient=f.patient(), creneau=f.creneau(med, f.future(24 + i))) for i in range(5)]
    before = {r.pk: snapshot(r) for r in rdvs}

    def work(i):
        acteur = User.objects.get(pk=(rdvs[i].patient_id if i % 2 else admin.pk))
        return services.move_rendezvous(acteur=acteur, rdv=fresh(RendezVous, rdvs[i]), creneau=fresh(Creneau, target))

    results = run_concurrently(len(rdvs), work)
    wins = [value for kind, value in results if kind == "ok"]
    assert len(wins) == 1, results
    assert all(isinstance(v, CreneauIndisponible) for kind, v in results if kind == "error"), results
    assert list(RendezVous.objects.filter(creneau=target).values_list("pk", flat=True)) == [wins[0].pk]
    for r in rdvs:
        if r.pk != wins[0].pk:
            assert snapshot(r) == before[r.pk]


def test_two_moves_swapping_slots_both_lose_cleanly(requires_postgres, transactional_db):
    """Each target is held by the other booking until it moves: both are 409 (a deadlock
    between the two is one of the ways to lose, never a 500 or a 503)."""
    med = f.medecin()
    admin = f.admincabinet(med.cabinet)
    for k in range(3):
        a, b = f.creneau(med, f.future(24 + k * 3)), f.creneau(med, f.future(25 + k * 3))
        ra = services.book_creneau(patient=f.patient(), creneau=a)
        rb = services.book_creneau(patient=f.patient(), creneau=b)
        before = (snapshot(ra), snapshot(rb))
        pairs = [(ra, b), (rb, a)]

        def work(i, pairs=pairs):
            rdv, slot = pairs[i]
            return services.move_rendezvous(acteur=User.objects.get(pk=admin.pk), rdv=fresh(RendezVous, rdv),
                                            creneau=fresh(Creneau, slot))

        results = run_concurrently(2, work)
        assert all(kind == "error" and isinstance(v, CreneauIndisponible) for kind, v in results), results
        assert (snapshot(ra), snapshot(rb)) == before


def test_a_move_and_a_cancellation_of_the_same_booking_serialise(requires_postgres, transactional_db):
    med = f.medecin()
    for i in range(3):
        old, target = f.creneau(med, f.future(24 + 3 * i)), f.creneau(med, f.future(25 + 3 * i))
        patient = f.patient()
        rdv = services.book_creneau(patient=patient, creneau=old)

        def work(j, rdv=rdv, target=target, patient=patient):
            acteur = User.objects.get(pk=patient.pk)
            if j == 0:
                return services.cancel_rendezvous(acteur=acteur, rdv=fresh(RendezVous, rdv))
            return services.move_rendezvous(acteur=acteur, rdv=fresh(RendezVous, rdv), creneau=fresh(Creneau, target))

        results = run_concurrently(2, work)
        assert results[0][0] == "ok", results  # a cancellation always goes through
        final = RendezVous.objects.get(pk=rdv.pk)
        assert final.statut == StatutRendezVous.ANNULE
        if results[1][0] == "ok":  # moved first, then cancelled: on the new slot
            assert final.creneau_id == target.pk and final.ancien_creneau_id == old.pk
        else:  # cancelled first: the move found it cancelled
            assert isinstance(results[1][1], Conflit) and results[1][1].code == "rendezvous_annule"
            assert final.creneau_id == old.pk and final.deplace_at is None
        # Either way both slots are free.
        assert not RendezVous.objects.filter(creneau__in=[old, target], statut__in=["EN_ATTENTE", "CONFIRME"]).exists()


def test_over_rest_a_move_and_bookings_one_wins_the_rest_409(requires_postgres, transactional_db):
    med = f.medecin()
    old, target = f.creneau(med, f.future(24)), f.creneau(med, f.future(26))
    mover = f.patient()
    rdv = services.book_creneau(patient=mover, creneau=old)
    before = snapshot(rdv)
    clients = [f.client_for(mover)] + [f.client_for(f.patient()) for _ in range(BOOKERS)]

    def work(i):
        if i == 0:
            return clients[0].post(f"/api/rendezvous/{rdv.pk}/move/", {"creneau": target.pk}, format="json")
        return clients[i].post("/api/rendezvous/", {"creneau": target.pk}, format="json")

    results = run_concurrently(len(clients), work)
    assert all(kind == "ok" for kind, _ in results), results
    statuses = [r.status_code for _, r in results]
    assert sorted(statuses) in ([200] + [409] * BOOKERS, [201] + [409] * BOOKERS), statuses
    for _, r in results:
        if r.status_code == 409:
            data = body(r)
            assert data["code"] == "creneau_indisponible" and data["details"]["creneau"]["id"] == target.pk
            assert data["details"]["creneau"]["disponible"] is False
    assert RendezVous.objects.filter(creneau=target).count() == 1
    if statuses[0] == 409:
        assert snapshot(rdv) == before


# --- a withdrawal racing a booking or a move of the same slot -----------------------------


def _hold_then(first, second):
    """Run ``first`` in a transaction kept open until ``second`` (another thread) has had a
    second to run into its locks; returns (first's outcome, second's, whether second waited)."""
    import threading

    from django.db import transaction

    done, release = threading.Event(), threading.Event()
    out: dict = {}

    def one():
        try:
            with transaction.atomic():
                out["first"] = ("ok", first())
                done.set()
                release.wait(30)
        except Exception as exc:  # asserted by the caller
            out["first"] = ("error", exc)
            done.set()
        finally:
            connection.close()

    def two():
        try:
            out["second"] = ("ok", second())
        except Exception as exc:  # asserted by the caller
            out["second"] = ("error", exc)
        finally:
            connection.close()

    t1 = threading.Thread(target=one)
    t1.start()
    assert done.wait(30)
    t2 = threading.Thread(target=two)
    t2.start()
    t2.join(1.0)
    waited = t2.is_alive()
    release.set()
    t1.join(30)
    t2.join(30)
    return out["first"], out["second"], waited


def no_active_booking_on_a_withdrawn_slot() -> None:
    assert not RendezVous.objects.filter(creneau__actif=False, statut__in=["EN_ATTENTE", "CONFIRME"]).exists()


def test_a_booking_waiting_for_a_withdrawal_is_refused(requires_postgres, transactional_db):
    """The defect: the booking's insert waited for the withdrawal's commit, then went
    through — an active booking on a withdrawn slot."""
    med = f.medecin()
    slot = f.creneau(med, f.future(24))
    patient = f.patient()
    stale = fresh(Creneau, slot)  # read while the slot was still offered
    first, second, waited = _hold_then(
        lambda: services.withdraw_creneau(acteur=User.objects.get(pk=med.pk), creneau=fresh(Creneau, slot)),
        lambda: services.book_creneau(patient=User.objects.get(pk=patient.pk), creneau=stale),
    )
    assert first[0] == "ok" and waited, (first, second)
    assert second[0] == "error" and isinstance(second[1], CreneauIndisponible), second
    assert not RendezVous.objects.filter(creneau=slot).exists()
    assert Creneau.objects.get(pk=slot.pk).actif is False
    no_active_booking_on_a_withdrawn_slot()


def test_a_withdrawal_waiting_for_a_booking_is_refused(requires_postgres, transactional_db):
    med = f.medecin()
    slot = f.creneau(med, f.future(24))
    patient = f.patient()
    first, second, waited = _hold_then(
        lambda: services.book_creneau(patient=User.objects.get(pk=patient.pk), creneau=fresh(Creneau, slot)),
        lambda: services.withdraw_creneau(acteur=User.objects.get(pk=med.pk), creneau=fresh(Creneau, slot)),
    )
    assert first[0] == "ok" and waited, (first, second)
    assert second[0] == "error" and isinstance(second[1], Conflit) and second[1].code == "creneau_reserve", second
    assert Creneau.objects.get(pk=slot.pk).actif is True
    assert RendezVous.objects.filter(creneau=slot).count() == 1


def test_a_move_waiting_for_a_withdrawal_of_its_target_is_refused(requires_postgres, transactional_db):
    med = f.medecin()
    old, target = f.creneau(med, f.future(24)), f.creneau(med, f.future(26))
    rdv = services.book_creneau(patient=f.patient(), creneau=old)
    before = snapshot(rdv)
    first, second, waited = _hold_then(
        lambda: services.withdraw_creneau(acteur=User.objects.get(pk=med.pk), creneau=fresh(Creneau, target)),
        lambda: services.move_rendezvous(acteur=User.objects.get(pk=med.pk), rdv=fresh(RendezVous, rdv),
                                         creneau=fresh(Creneau, target)),
    )
    assert first[0] == "ok" and waited, (first, second)
    assert second[0] == "error" and isinstance(second[1], CreneauIndisponible), second
    assert snapshot(rdv) == before
    no_active_booking_on_a_withdrawn_slot()


@pytest.mark.parametrize("round_", range(3))
def test_withdrawals_and_bookings_racing_never_leave_a_booking_on_a_withdrawn_slot(
        requires_postgres, transactional_db, round_):
    med = f.medecin()
    slots = [f.creneau(med, f.future(24 + i)) for i in range(4)]
    patients = [f.patient() for _ in slots]

    def work(i):
        slot = slots[i // 2]
        if (i + round_) % 2:
            return services.withdraw_creneau(acteur=User.objects.get(pk=med.pk), creneau=fresh(Creneau, slot))
        return services.book_creneau(patient=User.objects.get(pk=patients[i // 2].pk), creneau=fresh(Creneau, slot))

    results = run_concurrently(2 * len(slots), work)
    assert all(kind == "ok" or isinstance(v, Conflit) for kind, v in results), results
    no_active_booking_on_a_withdrawn_slot()
    for slot in slots:  # each slot: withdrawn and free, or booked and still offered
        slot = Creneau.objects.get(pk=slot.pk)
        assert slot.actif == RendezVous.objects.filter(creneau=slot).exists()
