"""Integrity held by the database itself (ORM writes that bypass the services), races on
PostgreSQL from many threads, and the idempotent demo seed."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, connections, transaction
from django.utils import timezone

from medical_booking.errors import Conflit, CreneauIndisponible
from rendezvous import services
from rendezvous.models import (
    Cabinet,
    Creneau,
    Horaire,
    Medecin,
    Motif,
    RendezVous,
    Role,
    StatutRendezVous,
    User,
)
from tests import factories as f
from tests import helpers
from tests.helpers import body

fast_hashers = helpers.fast_hashers  # fixture


def integrity_error(fn):
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            fn()


@pytest.fixture
def agenda(db):
    med = f.medecin()
    slot = f.creneau(med, f.future(24))
    return med, slot


# --- one active booking per slot -----------------------------------------------------------


def test_two_active_bookings_on_one_slot_are_refused_by_the_database(agenda):
    med, slot = agenda
    RendezVous.objects.create(patient=f.patient(), creneau=slot)
    other = f.patient()
    integrity_error(lambda: RendezVous.objects.create(patient=other, creneau=slot))
    integrity_error(lambda: RendezVous.objects.create(patient=other, creneau=slot, statut=StatutRendezVous.CONFIRME))
    integrity_error(lambda: RendezVous.objects.bulk_create([RendezVous(patient=other, creneau=slot)]))
    assert RendezVous.objects.filter(creneau=slot).count() == 1


def test_cancelled_bookings_do_not_hold_the_slot(agenda):
    med, slot = agenda
    now = timezone.now()
    for _ in range(2):
        RendezVous.objects.create(patient=f.patient(), creneau=slot, statut=StatutRendezVous.ANNULE, annule_at=now)
    RendezVous.objects.create(patient=f.patient(), creneau=slot)
    assert RendezVous.objects.filter(creneau=slot).count() == 3


def test_reactivating_a_cancelled_booking_on_a_taken_slot_is_refused(agenda):
    med, slot = agenda
    old = RendezVous.objects.create(patient=f.patient(), creneau=slot, statut=StatutRendezVous.ANNULE,
                                    annule_at=timezone.now())
    RendezVous.objects.create(patient=f.patient(), creneau=slot)
    integrity_error(lambda: RendezVous.objects.filter(pk=old.pk).update(statut=StatutRendezVous.EN_ATTENTE,
                                                                         annule_at=None))


def test_booking_statut_and_cancellation_date_checks(agenda):
    med, slot = agenda
    p = f.patient()
    integrity_error(lambda: RendezVous.objects.create(patient=p, creneau=slot, statut="PERDU"))
    integrity_error(lambda: RendezVous.objects.create(patient=p, creneau=slot, statut=StatutRendezVous.ANNULE))


def test_booking_a_past_slot_is_refused_by_the_database(db):
    med = f.medecin()
    past = f.creneau(med, timezone.now() - timedelta(minutes=5))
    p = f.patient()
    integrity_error(lambda: RendezVous.objects.create(patient=p, creneau=past))
    integrity_error(lambda: RendezVous.objects.bulk_create([RendezVous(patient=p, creneau=past)]))
    assert not RendezVous.objects.exists()


def test_moving_a_booking_onto_a_past_slot_is_refused_by_the_database(db):
    med = f.medecin()
    rdv = RendezVous.objects.create(patient=f.patient(), creneau=f.creneau(med, f.future(24)))
    past = f.creneau(med, timezone.now() - timedelta(minutes=5))
    integrity_error(lambda: RendezVous.objects.filter(pk=rdv.pk).update(creneau=past))
    rdv.creneau = past
    integrity_error(lambda: rdv.save(update_fields=["creneau"]))
    assert RendezVous.objects.get(pk=rdv.pk).creneau_id != past.pk
    # other updates of a booking whose slot has passed are fine (a cancellation afterwards)
    RendezVous.objects.filter(pk=rdv.pk).update(motif="changé")


def test_moving_a_booking_onto_a_taken_slot_is_refused_by_the_database(agenda):
    med, slot = agenda
    other = f.creneau(med, f.future(30))
    RendezVous.objects.create(patient=f.patient(), creneau=slot)
    mine = RendezVous.objects.create(patient=f.patient(), creneau=other)
    integrity_error(lambda: RendezVous.objects.filter(pk=mine.pk).update(creneau=slot))


def test_the_database_rules_survive_every_migration(db):
    """SQLite keeps triggers with their table, and some migrations rebuild tables."""
    from rendezvous.migrations import _triggers

    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            assert _triggers.SQLITE_TRIGGERS <= {row[0] for row in cursor.fetchall()}
        else:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            assert {"rendezvous_creneau_futur", "rendezvous_creneau_futur_upd"} <= {r[0] for r in cursor.fetchall()}
            cursor.execute("SELECT conname FROM pg_constraint WHERE conname = 'creneau_sans_chevauchement'")
            assert cursor.fetchone()


def test_a_patient_record_without_email_is_a_patient(db):
    cab = f.cabinet()
    User.objects.create(email=None, role=Role.PATIENT, cree_par_cabinet=cab, last_name="Sans mail")
    User.objects.create(email=None, role=Role.PATIENT, last_name="Deux NULL dans l'index unique")
    integrity_error(lambda: User.objects.create(email=None, role=Role.MEDECIN, cabinet=cab))
    integrity_error(lambda: User.objects.create(email="s@test.fr", role=Role.ADMINCABINET, cabinet=cab,
                                                cree_par_cabinet=cab))


# --- slots ---------------------------------------------------------------------------------


def test_overlapping_slots_are_refused_by_the_database(agenda):
    med, slot = agenda
    for start, minutes in [(0, 30), (10, 5), (-10, 20), (20, 30), (-60, 120)]:
        debut = slot.debut + timedelta(minutes=start)
        integrity_error(lambda d=debut, m=minutes: Creneau.objects.create(
            medecin=med, debut=d, fin=d + timedelta(minutes=m)))
    assert Creneau.objects.filter(medecin=med).count() == 1


def test_overlap_within_one_bulk_insert_is_refused(db):
    med = f.medecin()
    debut = f.future(24)
    integrity_error(lambda: Creneau.objects.bulk_create([
        Creneau(medecin=med, debut=debut, fin=debut + timedelta(minutes=30)),
        Creneau(medecin=med, debut=debut + timedelta(minutes=15), fin=debut + timedelta(minutes=45)),
    ]))
    assert not Creneau.objects.exists()


def test_adjacent_slots_other_doctors_and_withdrawn_slots_are_fine(agenda):
    med, slot = agenda
    Creneau.objects.create(medecin=med, debut=slot.fin, fin=slot.fin + timedelta(minutes=30))
    Creneau.objects.create(medecin=med, debut=slot.debut - timedelta(minutes=30), fin=slot.debut)
    Creneau.objects.create(medecin=f.medecin(), debut=slot.debut, fin=slot.fin)
    Creneau.objects.create(medecin=med, debut=slot.debut, fin=slot.fin, actif=False)
    assert Creneau.objects.count() == 5


def test_moving_or_reactivating_a_slot_into_an_overlap_is_refused(agenda):
    med, slot = agenda
    later = f.creneau(med, slot.fin + timedelta(hours=1))
    integrity_error(lambda: Creneau.objects.filter(pk=later.pk).update(debut=slot.debut, fin=slot.fin))
    withdrawn = Creneau.objects.create(medecin=med, debut=slot.debut, fin=slot.fin, actif=False)
    integrity_error(lambda: Creneau.objects.filter(pk=withdrawn.pk).update(actif=True))


def test_slot_end_must_follow_its_start(db):
    med = f.medecin()
    debut = f.future(24)
    integrity_error(lambda: Creneau.objects.create(medecin=med, debut=debut, fin=debut))
    integrity_error(lambda: Creneau.objects.create(medecin=med, debut=debut, fin=debut - timedelta(minutes=1)))


def test_role_and_practice_are_consistent(db):
    cab = f.cabinet()
    integrity_error(lambda: User.objects.create(email="m@test.fr", role=Role.MEDECIN))
    integrity_error(lambda: User.objects.create(email="p@test.fr", role=Role.PATIENT, cabinet=cab))
    integrity_error(lambda: User.objects.create(email="x@test.fr", role="ROI"))


# --- races on PostgreSQL -------------------------------------------------------------------


def run_concurrently(n: int, work) -> list:
    """``work(i)`` in n threads released together; each thread closes its connection."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = ("ok", work(i))
        except Exception as exc:  # collected and asserted below
            results[i] = ("error", exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


N = 20


@pytest.mark.postgres
def test_race_many_patients_one_slot_exactly_one_wins(requires_postgres, transactional_db):
    assert connection.vendor == "postgresql"
    med = f.medecin()
    slot = f.creneau(med, f.future(24))
    patients = [f.patient() for _ in range(N)]

    def work(i):
        creneau = Creneau.objects.select_related("medecin__cabinet").get(pk=slot.pk)
        return services.book_creneau(patient=User.objects.get(pk=patients[i].pk), creneau=creneau,
                                     motif=f"course {i}")

    results = run_concurrently(N, work)
    wins = [value for kind, value in results if kind == "ok"]
    errors = [value for kind, value in results if kind == "error"]
    assert len(wins) == 1, results
    assert len(errors) == N - 1 and all(isinstance(e, CreneauIndisponible) for e in errors), errors
    assert all(e.code == "creneau_indisponible" and e.status == 409 for e in errors)
    rows = list(RendezVous.objects.filter(creneau=slot))
    assert len(rows) == 1 and rows[0].pk == wins[0].pk and rows[0].statut == StatutRendezVous.EN_ATTENTE


@pytest.mark.postgres
def test_race_over_rest_one_201_the_rest_409(requires_postgres, transactional_db, settings):
    med = f.medecin()
    slot = f.creneau(med, f.future(24))
    clients = [f.client_for(f.patient()) for _ in range(N)]

    def work(i):
        return clients[i].post("/api/rendezvous/", {"creneau": slot.pk}, format="json")

    results = run_concurrently(N, work)
    assert all(kind == "ok" for kind, _ in results), results
    statuses = sorted(r.status_code for _, r in results)
    assert statuses == [201] + [409] * (N - 1)
    for _, r in results:
        if r.status_code == 409:
            data = body(r)
            assert data["code"] == "creneau_indisponible" and data["details"]["creneau"]["id"] == slot.pk
            assert data["details"]["creneau"]["disponible"] is False
    assert RendezVous.objects.filter(creneau=slot).count() == 1


@pytest.mark.postgres
def test_race_overlapping_publications_exactly_one_wins(requires_postgres, transactional_db):
    med = f.medecin()
    admin = f.admincabinet(med.cabinet)
    base = f.future(24)

    def work(i):
        # Every pair of these overlaps: [base+i, base+60+i) minutes.
        acteur = User.objects.get(pk=(med.pk if i % 2 else admin.pk))
        return services.publish_creneau(acteur=acteur, medecin=Medecin.objects.get(pk=med.pk),
                                        debut=base + timedelta(minutes=i), fin=base + timedelta(minutes=60 + i))

    results = run_concurrently(N, work)
    wins = [value for kind, value in results if kind == "ok"]
    errors = [value for kind, value in results if kind == "error"]
    assert len(wins) == 1, results
    assert all(isinstance(e, Conflit) and e.code == "creneau_chevauchement" for e in errors), errors
    assert Creneau.objects.filter(medecin=med, actif=True).count() == 1


@pytest.mark.postgres
def test_race_cancel_and_rebook(requires_postgres, transactional_db):
    """Cancelling frees the slot; many patients then race for it: one wins."""
    med = f.medecin()
    slot = f.creneau(med, f.future(24))
    first = f.patient()
    rdv = services.book_creneau(patient=first, creneau=slot)
    services.cancel_rendezvous(acteur=first, rdv=rdv)
    patients = [f.patient() for _ in range(10)]

    def work(i):
        return services.book_creneau(patient=patients[i], creneau=Creneau.objects.get(pk=slot.pk))

    results = run_concurrently(10, work)
    assert sum(kind == "ok" for kind, _ in results) == 1
    assert RendezVous.objects.filter(creneau=slot, statut__in=["EN_ATTENTE", "CONFIRME"]).count() == 1


# --- demo seed -----------------------------------------------------------------------------

DEMO = {
    "admin@demo.fr": Role.SUPERADMIN, "secretariat@demo.fr": Role.ADMINCABINET,
    "dr.martin@demo.fr": Role.MEDECIN, "dr.bernard@demo.fr": Role.MEDECIN,
    "alice@demo.fr": Role.PATIENT, "bob@demo.fr": Role.PATIENT, "chloe@demo.fr": Role.PATIENT,
}


def counts() -> dict:
    return {"users": User.objects.count(), "cabinets": Cabinet.objects.count(),
            "medecins": Medecin.objects.count(), "creneaux": Creneau.objects.count(),
            "rendezvous": RendezVous.objects.count(), "motifs": Motif.objects.count()}


def test_seed_demo_is_idempotent_and_creates_the_spec_accounts(db):
    call_command("seed_demo", verbosity=0)
    first = counts()
    call_command("seed_demo", verbosity=0)
    assert counts() == first
    assert first["cabinets"] == 1 and first["medecins"] == 2 and first["creneaux"] > 0
    users = {u.email: u for u in User.objects.all()}
    assert set(users) == set(DEMO)
    cabinet = Cabinet.objects.get()
    for email, role in DEMO.items():
        u = users[email]
        assert u.role == role and u.is_active
        assert u.check_password("demo1234"), email
        assert u.cabinet_id == (cabinet.pk if role in (Role.MEDECIN, Role.ADMINCABINET) else None)
    assert users["admin@demo.fr"].is_superuser and users["admin@demo.fr"].is_staff
    # Staff reach the Django admin (their practice only); patients do not.
    assert {e for e, u in users.items() if u.is_staff} == {e for e, r in DEMO.items() if r != Role.PATIENT}
    assert not any(u.is_superuser for e, u in users.items() if e != "admin@demo.fr")
    now = timezone.now()
    for medecin in Medecin.objects.all():
        # Weekly hours, and the slots generated from them over the horizon (8 weeks).
        assert Horaire.objects.filter(medecin=medecin).count() >= 5
        slots = list(Creneau.objects.filter(medecin=medecin).order_by("debut"))
        assert len(slots) > 8 * 5 * 10, medecin
        assert all(s.genere and s.actif for s in slots)
        assert all(now < s.debut <= now + timedelta(weeks=8) and s.fin > s.debut for s in slots)
        assert all(a.fin <= b.debut for a, b in zip(slots, slots[1:], strict=False))
        local = {timezone.localtime(s.debut, cabinet.tzinfo).strftime("%H:%M") for s in slots}
        assert "09:00" in local and "11:30" in local and "12:00" not in local
        # 2–3 visit reasons, each fitting the 30-minute slots, kept as staff change them.
        motifs = list(Motif.objects.filter(medecin=medecin, actif=True))
        assert 2 <= len(motifs) <= 3 and all(m.duree_minutes <= 30 and m.en_ligne for m in motifs)
    Motif.objects.filter(libelle="Vaccination").update(actif=False)
    call_command("seed_demo", verbosity=0)
    assert not Motif.objects.filter(libelle="Vaccination", actif=True).exists()


def test_seed_demo_accounts_work_over_the_api(db):
    call_command("seed_demo", verbosity=0)
    client = f.client_for()
    tokens = body(client.post("/api/auth/token/", {"email": "alice@demo.fr", "password": "demo1234"}, format="json"))
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = body(client.get("/api/me/"))
    assert (me["email"], me["role"]) == ("alice@demo.fr", "PATIENT")
    slot = body(client.get("/api/creneaux/?disponible=true"))["results"][0]
    # Demo doctors have visit reasons: a patient names one (a new patient, one open to them).
    assert client.post("/api/rendezvous/", {"creneau": slot["id"], "motif": "Démo"},
                       format="json").json()["code"] == "motif_requis"
    motifs = body(client.get(f"/api/medecins/{slot['medecin']}/motifs/"))
    assert 2 <= len(motifs) <= 3
    motif = next(m for m in motifs if m["nouveaux_patients"])
    r = client.post("/api/rendezvous/", {"creneau": slot["id"], "motif": "Démo", "motif_consultation": motif["id"]},
                    format="json")
    assert r.status_code == 201
    # Running the seed again keeps the booking and changes nothing else.
    before = counts()
    call_command("seed_demo", verbosity=0)
    assert counts() == before


def test_seed_demo_without_motifs_for_the_test_stacks(db):
    call_command("seed_demo", "--sans-motifs", verbosity=0)
    assert Medecin.objects.count() == 2 and not Motif.objects.exists()
