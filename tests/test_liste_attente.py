"""The waiting list (``/api/liste-attente/``, attente/): registration and its bad input,
offers of freed or published slots to the first in line (FIFO, range, visit reason),
``creneau:offered`` to that patient only (and the outbox's e-mail), booking or moving into
the offer, the next in line on expiry or withdrawal, and (PostgreSQL) never two offers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from attente import services as attente
from attente.models import InscriptionAttente, Retenue
from medical_booking.errors import CreneauRetenu
from outbox.models import Envoi
from realtime.models import Event
from rendezvous import services
from rendezvous.models import Creneau, Motif, StatutRendezVous, User
from tests import factories as f
from tests.helpers import assert_error, body, fast_hashers, unchanged  # noqa: F401
from tests.test_api_integrity import run_concurrently
from tests.test_holds import events_after, fresh, last_event


def day(creneau: Creneau, shift: int = 0) -> str:
    local = timezone.localtime(creneau.debut, creneau.medecin.cabinet.tzinfo)
    return (local.date() + timedelta(days=shift)).isoformat()


def register(user, medecin_id: int, debut: str, fin: str, **extra):
    return f.client_for(user).post("/api/liste-attente/", {"medecin": medecin_id, "date_from": debut,
                                                          "date_to": fin, **extra}, format="json")


@pytest.fixture
def agenda(db):
    med = f.medecin()
    slot = f.creneau(med, f.future(30))
    holder = f.patient()
    rdv = services.book_creneau(patient=holder, creneau=slot)
    return med, slot, holder, rdv


def test_registration_and_its_bad_input(agenda):
    med, slot, _, _ = agenda
    p = f.patient()
    response = register(p, med.pk, day(slot, -1), day(slot, 1))
    data = body(response)
    assert response.status_code == 201, data
    assert data["medecin"] == med.pk and data["active"] is True and data["offre"] is None
    assert [e["id"] for e in body(f.client_for(p).get("/api/liste-attente/"))] == [data["id"]]
    assert body(f.client_for(f.patient()).get("/api/liste-attente/")) == []
    yesterday = (timezone.localdate() - timedelta(days=2)).isoformat()
    other_motif = Motif.objects.create(medecin=f.medecin(), libelle="Autre", duree_minutes=15)
    stranger = f.patient()
    rows = list(InscriptionAttente.objects.values_list("id", "active"))
    with unchanged():
        assert_error(register(p, med.pk, day(slot), day(slot)), 409, "deja_en_attente")
        assert_error(register(p, med.pk, yesterday, yesterday), 400, "periode_passee")
        assert_error(register(p, med.pk, day(slot, 2), day(slot, 1)), 400, "periode_invalide")
        assert_error(register(p, 10**9, day(slot), day(slot)), 404, "not_found")
        assert_error(register(p, med.pk, day(slot, 5), day(slot, 6), motif=other_motif.pk), 400,
                     "motif_inconnu")
        assert_error(register(p, med.pk, "demain", day(slot)), 400, "validation_error")
        assert_error(register(User.objects.get(pk=med.pk), med.pk, day(slot), day(slot)), 403, "role_interdit")
        assert_error(f.client_for(stranger).delete(f"/api/liste-attente/{data['id']}/"), 404, "not_found")
    assert list(InscriptionAttente.objects.values_list("id", "active")) == rows
    assert f.client_for(p).delete(f"/api/liste-attente/{data['id']}/").status_code == 204
    assert not InscriptionAttente.objects.filter(active=True).exists()
    # A later range no longer overlaps anything active.
    assert register(p, med.pk, day(slot), day(slot)).status_code == 201


def test_a_doctor_refusing_new_patients_online_takes_only_known_patients_on_the_list(
        agenda, django_capture_on_commit_callbacks):
    """An offer must be one the patient can book: a new patient is refused at registration
    (the booking's own rule and code), and an entry made before the doctor stopped taking
    new patients online is passed over for the next known patient."""
    med, slot, holder, rdv = agenda
    early, known = f.patient(), f.patient()
    services.book_creneau(patient=known, creneau=f.creneau(med, f.future(24 * 20)))
    assert register(early, med.pk, day(slot), day(slot)).status_code == 201
    med.nouveaux_patients_en_ligne = False
    med.save(update_fields=["nouveaux_patients_en_ligne"])
    newcomer = f.patient()
    with unchanged():
        response = register(newcomer, med.pk, day(slot), day(slot, 1))
        assert_error(response, 403, "nouveaux_patients_refuses")
        assert body(response)["message"] == (
            "Ce médecin n'accepte pas de nouveaux patients en ligne pour ce motif : appelez le cabinet")
    assert not InscriptionAttente.objects.filter(patient=newcomer).exists()
    assert register(known, med.pk, day(slot), day(slot)).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        assert f.client_for(holder).post(f"/api/rendezvous/{rdv.pk}/cancel/", {}, format="json").status_code == 200
    retenue = Retenue.objects.get(active=True)
    assert retenue.patient_id == known.pk
    assert InscriptionAttente.objects.get(patient=early).active  # still waiting, not offered


def test_a_cancelled_slot_goes_to_the_first_in_line_only(agenda, django_capture_on_commit_callbacks):
    med, slot, holder, rdv = agenda
    first, second, outsider = f.patient(), f.patient(), f.patient()
    # Not matching: another day, a reason too long for the 30-minute slot.
    long_motif = Motif.objects.create(medecin=med, libelle="Bilan", duree_minutes=60)
    court = Motif.objects.create(medecin=med, libelle="Consultation", duree_minutes=20)
    assert register(f.patient(), med.pk, day(slot, 1), day(slot, 3)).status_code == 201
    assert register(f.patient(), med.pk, day(slot), day(slot), motif=long_motif.pk).status_code == 201
    assert register(first, med.pk, day(slot, -1), day(slot)).status_code == 201
    assert register(second, med.pk, day(slot), day(slot, 2)).status_code == 201
    mark = last_event()
    with django_capture_on_commit_callbacks(execute=True):
        assert f.client_for(holder).post(f"/api/rendezvous/{rdv.pk}/cancel/", {}, format="json").status_code == 200
    offered = [(n, rooms, d) for n, rooms, d in events_after(mark) if n in ("creneau:offered", "creneau:unavailable")]
    assert [(n, rooms) for n, rooms, _ in offered] == [
        ("creneau:offered", [f"patient:{first.pk}"]),
        ("creneau:unavailable", [f"creneaux:{med.pk}"]),
    ]
    data = offered[0][2]
    assert data["creneau"]["id"] == slot.pk and data["expire_at"]
    event = Event.objects.get(name="creneau:offered")
    assert event.notify and event.type == "info" and event.message == "Un créneau s'est libéré pour vous"
    retenue = Retenue.objects.get(active=True)
    assert retenue.patient_id == first.pk and retenue.offre.patient_id == first.pk
    assert timedelta(seconds=890) < retenue.expire_at - timezone.now() <= timedelta(seconds=900)
    # The outbox wrote the e-mail, about that slot.
    envoi = Envoi.objects.get(type="creneau:offered")
    assert envoi.user_id == first.pk and envoi.canal == "EMAIL" and "libéré" in envoi.sujet
    # Others (the next in line too) are refused; the offered patient books it.
    with unchanged():
        assert_error(f.client_for(second).post("/api/rendezvous/", {"creneau": slot.pk,
                                                                   "motif_consultation": court.pk}, format="json"),
                     409, "creneau_retenu")
        assert_error(f.client_for(outsider).post(f"/api/creneaux/{slot.pk}/hold/"), 409, "creneau_retenu")
    listed = body(f.client_for(first).get("/api/liste-attente/"))
    assert listed[0]["offre"]["creneau"]["id"] == slot.pk and listed[0]["offre"]["offre"] is True
    response = f.client_for(first).post("/api/rendezvous/", {"creneau": slot.pk, "motif_consultation": court.pk},
                                        format="json")
    assert response.status_code == 201, body(response)
    served = InscriptionAttente.objects.get(patient=first)
    assert not served.active and served.servie_at is not None
    assert Retenue.objects.get(pk=retenue.pk).issue == Retenue.Issue.CONSOMMEE


def test_an_unused_offer_goes_to_the_next_in_line(agenda, django_capture_on_commit_callbacks):
    med, slot, holder, rdv = agenda
    first, second = f.patient(), f.patient()
    register(first, med.pk, day(slot), day(slot))
    register(second, med.pk, day(slot), day(slot))
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_rendezvous(acteur=holder, rdv=rdv)
    assert Retenue.objects.get(active=True).patient_id == first.pk
    assert attente.expirer_retenues() == 0
    Retenue.objects.update(expire_at=timezone.now() - timedelta(seconds=1))
    mark = last_event()
    assert attente.expirer_retenues() == 1
    assert [(n, rooms) for n, rooms, _ in events_after(mark)][0] == ("creneau:offered", [f"patient:{second.pk}"])
    assert Retenue.objects.get(active=True).patient_id == second.pk
    # The second declines: nobody else waits, the slot is back for everyone.
    mark = last_event()
    assert f.client_for(second).delete(f"/api/creneaux/{slot.pk}/hold/").status_code == 204
    assert [n for n, _, _ in events_after(mark)] == ["creneau:available"]
    assert not Retenue.objects.filter(active=True).exists()
    # The first is never offered the same slot twice.
    assert attente.offrir_creneau(slot.pk) is None


def test_the_patients_other_booking_moves_into_the_offer(agenda, django_capture_on_commit_callbacks):
    med, slot, holder, rdv = agenda
    waiting = f.patient()
    later = f.creneau(med, f.future(80))
    mine = services.book_creneau(patient=waiting, creneau=later)
    register(waiting, med.pk, day(slot), day(slot))
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_rendezvous(acteur=holder, rdv=rdv)
    assert Retenue.objects.get(active=True).patient_id == waiting.pk
    response = f.client_for(waiting).post(f"/api/rendezvous/{mine.pk}/move/", {"creneau": slot.pk}, format="json")
    assert response.status_code == 200, body(response)
    assert body(response)["creneau"]["id"] == slot.pk
    assert not Retenue.objects.filter(active=True).exists()
    assert not InscriptionAttente.objects.get(patient=waiting).active


def test_a_published_slot_or_a_registration_finds_its_match(agenda, django_capture_on_commit_callbacks):
    med, slot, _, _ = agenda
    waiting = f.patient()
    register(waiting, med.pk, day(slot, 1), day(slot, 1))
    doctor = User.objects.get(pk=med.pk)
    with django_capture_on_commit_callbacks(execute=True):
        published = services.publish_creneau(acteur=doctor, medecin=med, debut=slot.debut + timedelta(days=1),
                                             fin=slot.fin + timedelta(days=1))
    assert Retenue.objects.get(active=True).creneau_id == published.pk
    # A free slot already there is offered at registration.
    free = f.creneau(med, slot.debut + timedelta(days=2))
    other = f.patient()
    with django_capture_on_commit_callbacks(execute=True):
        assert register(other, med.pk, day(slot, 2), day(slot, 2)).status_code == 201
    assert Retenue.objects.get(active=True, patient=other).creneau_id == free.pk
    # Leaving the list releases the offer.
    inscription = InscriptionAttente.objects.get(patient=other)
    assert f.client_for(other).delete(f"/api/liste-attente/{inscription.pk}/").status_code == 204
    assert not Retenue.objects.filter(active=True, patient=other).exists()


def test_the_scheduler_safety_net_offers_what_an_after_commit_missed(agenda):
    med, slot, holder, rdv = agenda
    waiting = f.patient()
    register(waiting, med.pk, day(slot), day(slot))
    services.cancel_rendezvous(acteur=holder, rdv=rdv)  # on_commit never ran (a server killed)
    assert not Retenue.objects.exists()
    assert attente.offrir_creneaux_libres() == 1
    assert Retenue.objects.get(active=True).patient_id == waiting.pk
    assert attente.offrir_creneaux_libres() == 0


def test_the_safety_net_looks_only_at_slots_someone_may_want(agenda, django_assert_max_num_queries):
    med, slot, _, _ = agenda
    # Free slots nobody waits for, earlier than the one awaited: the pass neither locks
    # them nor lets them fill its batch.
    for k in range(1, 8):
        f.creneau(med, slot.debut + timedelta(days=k))
    awaited = f.creneau(med, slot.debut + timedelta(days=12))
    waiting = f.patient()
    register(waiting, med.pk, day(awaited), day(awaited))
    assert attente.offrir_creneaux_libres(limite=3) == 1
    assert Retenue.objects.get(active=True).creneau_id == awaited.pk
    with django_assert_max_num_queries(2):
        assert attente.offrir_creneaux_libres() == 0


@pytest.mark.postgres
def test_two_offers_of_one_slot_never_coexist(requires_postgres, transactional_db):
    assert connection.vendor == "postgresql"
    med = f.medecin()
    slot = f.creneau(med, f.future(30))
    people = [f.patient() for _ in range(3)]
    for p in people:
        attente.inscrire(patient=p, medecin=med, date_debut=timezone.localdate(slot.debut) - timedelta(days=1),
                         date_fin=timezone.localdate(slot.debut) + timedelta(days=1))
    Retenue.objects.all().delete()  # the registrations' own offers ran on commit: start again
    InscriptionAttente.objects.update(active=True)
    booker = f.patient()

    def work(i):
        if i == 3:
            return services.book_creneau(patient=User.objects.get(pk=booker.pk), creneau=fresh(slot))
        return attente.offrir_creneau(slot.pk)

    results = run_concurrently(4, work)
    assert all(kind == "ok" or isinstance(v, CreneauRetenu) for kind, v in results), results
    assert Retenue.objects.filter(creneau=slot, active=True).count() <= 1
    offers = [v for kind, v in results if kind == "ok" and isinstance(v, Retenue)]
    assert len(offers) <= 1
    booked = slot.rendezvous.filter(statut__in=[StatutRendezVous.EN_ATTENTE, StatutRendezVous.CONFIRME]).count()
    assert booked + len(offers) == 1, results


# --- one live offer per entry ---------------------------------------------------------------

@pytest.fixture
def two_freed(agenda):
    """The agenda's booked slot and a second one an hour later, booked by someone else."""
    med, slot, holder, rdv = agenda
    other = f.creneau(med, slot.debut + timedelta(hours=1))
    other_holder = f.patient()
    other_rdv = services.book_creneau(patient=other_holder, creneau=other)
    return med, (slot, holder, rdv), (other, other_holder, other_rdv)


def cancel(holder, rdv, capture) -> None:
    with capture(execute=True):
        response = f.client_for(holder).post(f"/api/rendezvous/{rdv.pk}/cancel/", {}, format="json")
    assert response.status_code == 200, body(response)


def offers_of(inscription: InscriptionAttente) -> list[int]:
    return list(Retenue.objects.filter(offre=inscription, active=True).values_list("creneau_id", flat=True))


def test_two_freed_slots_and_one_waiting_entry_make_one_offer(two_freed, django_capture_on_commit_callbacks):
    med, (slot, holder, rdv), (other, other_holder, other_rdv) = two_freed
    waiting = f.patient()
    register(waiting, med.pk, day(slot, -1), day(slot, 1))
    entry = InscriptionAttente.objects.get(patient=waiting)
    cancel(holder, rdv, django_capture_on_commit_callbacks)
    assert offers_of(entry) == [slot.pk]
    mark = last_event()
    cancel(other_holder, other_rdv, django_capture_on_commit_callbacks)
    # Nobody else waits: the second slot stays free for everyone, not offered on top.
    assert offers_of(entry) == [slot.pk]
    assert not Retenue.objects.filter(creneau=other).exists()
    assert "creneau:offered" not in [n for n, _, _ in events_after(mark)]
    assert attente.offrir_creneaux_libres() == 0  # nor by the safety net
    assert attente.offrir_creneau(other.pk) is None
    listed = body(f.client_for(waiting).get("/api/liste-attente/"))
    assert [e["offre"]["creneau"]["id"] for e in listed] == [slot.pk]


def test_two_freed_slots_and_two_waiting_entries_make_one_offer_each(two_freed,
                                                                      django_capture_on_commit_callbacks):
    med, (slot, holder, rdv), (other, other_holder, other_rdv) = two_freed
    first, second = f.patient(), f.patient()
    register(first, med.pk, day(slot, -1), day(slot, 1))
    register(second, med.pk, day(slot), day(slot, 1))
    cancel(holder, rdv, django_capture_on_commit_callbacks)
    mark = last_event()
    cancel(other_holder, other_rdv, django_capture_on_commit_callbacks)
    assert offers_of(InscriptionAttente.objects.get(patient=first)) == [slot.pk]
    assert offers_of(InscriptionAttente.objects.get(patient=second)) == [other.pk]
    offered = [rooms for n, rooms, _ in events_after(mark) if n == "creneau:offered"]
    assert offered == [[f"patient:{second.pk}"]]


def test_once_the_offer_lapses_the_entry_gets_the_other_free_slot(two_freed, django_capture_on_commit_callbacks):
    med, (slot, holder, rdv), (other, other_holder, other_rdv) = two_freed
    waiting = f.patient()
    register(waiting, med.pk, day(slot, -1), day(slot, 1))
    entry = InscriptionAttente.objects.get(patient=waiting)
    cancel(holder, rdv, django_capture_on_commit_callbacks)
    cancel(other_holder, other_rdv, django_capture_on_commit_callbacks)
    assert offers_of(entry) == [slot.pk]
    # Lapsed but not yet closed: the entry still counts as offered (as the index sees it).
    Retenue.objects.filter(active=True).update(expire_at=timezone.now() - timedelta(seconds=1))
    assert attente.offrir_creneau(other.pk) is None
    mark = last_event()
    assert scheduler_pass() == (1, 1)  # the lapse closed, then the other slot offered
    assert offers_of(entry) == [other.pk]
    assert [(n, rooms) for n, rooms, _ in events_after(mark)] == [
        ("creneau:available", [f"creneaux:{med.pk}", "role:PATIENT"]),  # the first: nobody else waits
        ("creneau:offered", [f"patient:{waiting.pk}"]),
        ("creneau:unavailable", [f"creneaux:{med.pk}"]),
    ]
    # Never the same slot twice: once this one lapses too, nothing is left for the entry.
    Retenue.objects.filter(active=True).update(expire_at=timezone.now() - timedelta(seconds=1))
    assert scheduler_pass() == (1, 0)
    assert offers_of(entry) == []


def test_a_declined_offer_frees_the_entry_for_the_other_slot_at_once(two_freed,
                                                                      django_capture_on_commit_callbacks):
    med, (slot, holder, rdv), (other, other_holder, other_rdv) = two_freed
    waiting = f.patient()
    register(waiting, med.pk, day(slot, -1), day(slot, 1))
    entry = InscriptionAttente.objects.get(patient=waiting)
    cancel(holder, rdv, django_capture_on_commit_callbacks)
    cancel(other_holder, other_rdv, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert f.client_for(waiting).delete(f"/api/creneaux/{slot.pk}/hold/").status_code == 204
    assert offers_of(entry) == [other.pk]
    # Leaving the list releases that offer and makes no other.
    with django_capture_on_commit_callbacks(execute=True):
        assert f.client_for(waiting).delete(f"/api/liste-attente/{entry.pk}/").status_code == 204
    assert not Retenue.objects.filter(active=True).exists()


def scheduler_pass() -> tuple[int, int]:
    from attente.scheduler import passe

    return passe()


def test_the_database_keeps_one_active_offer_per_entry(two_freed):
    from django.db import IntegrityError, transaction

    med, (slot, _, _), (other, _, _) = two_freed
    waiting = f.patient()
    entry = InscriptionAttente.objects.create(patient=waiting, medecin=med, date_debut=timezone.localdate(),
                                              date_fin=timezone.localdate() + timedelta(days=5))
    later = timezone.now() + timedelta(minutes=10)
    first = Retenue.objects.create(creneau=slot, patient=waiting, offre=entry, expire_at=later)
    with pytest.raises(IntegrityError), transaction.atomic():
        Retenue.objects.create(creneau=other, patient=waiting, offre=entry, expire_at=later)
    # Once the first is closed, another slot may be offered; and browsing holds are not offers.
    Retenue.objects.filter(pk=first.pk).update(active=False, issue=Retenue.Issue.EXPIREE)
    Retenue.objects.create(creneau=other, patient=waiting, offre=entry, expire_at=later)
    Retenue.objects.create(creneau=f.creneau(med), patient=waiting, expire_at=later)


def test_an_entry_offered_another_slot_meanwhile_is_passed_over_not_a_500(agenda, monkeypatch,
                                                                          django_capture_on_commit_callbacks):
    """What a second process sees when it offered this entry another slot concurrently: its
    candidate query ran before that offer committed. The index refuses the insert; the slot
    goes to the next in line in the same call."""
    med, slot, holder, rdv = agenda
    first, second = f.patient(), f.patient()
    register(first, med.pk, day(slot, -1), day(slot, 1))
    register(second, med.pk, day(slot, -1), day(slot, 1))
    cancel(holder, rdv, django_capture_on_commit_callbacks)
    entry = InscriptionAttente.objects.get(patient=first)
    assert offers_of(entry) == [slot.pk]
    free = f.creneau(med, slot.debut + timedelta(hours=1))  # its after-commit offer never runs here
    real = attente._candidates
    calls = []

    def stale(creneau):
        calls.append(creneau.pk)
        if len(calls) == 1:  # the concurrent process's view: the first entry, offer unseen
            return InscriptionAttente.objects.filter(pk=entry.pk)
        return real(creneau)

    monkeypatch.setattr(attente, "_candidates", stale)
    mark = last_event()
    retenue = attente.offrir_creneau(free.pk)
    assert calls == [free.pk, free.pk]  # refused once by the index, then the next candidate
    assert retenue is not None and retenue.patient_id == second.pk and retenue.creneau_id == free.pk
    assert offers_of(entry) == [slot.pk]
    assert [(n, rooms) for n, rooms, _ in events_after(mark) if n == "creneau:offered"] == [
        ("creneau:offered", [f"patient:{second.pk}"])]


def test_a_slot_nobody_else_waits_for_stays_free_when_the_index_refuses(agenda, monkeypatch,
                                                                         django_capture_on_commit_callbacks):
    med, slot, holder, rdv = agenda
    waiting = f.patient()
    register(waiting, med.pk, day(slot, -1), day(slot, 1))
    cancel(holder, rdv, django_capture_on_commit_callbacks)
    entry = InscriptionAttente.objects.get(patient=waiting)
    free = f.creneau(med, slot.debut + timedelta(hours=1))
    real = attente._candidates
    calls = []

    def stale(creneau):
        calls.append(creneau.pk)
        return InscriptionAttente.objects.filter(pk=entry.pk) if len(calls) == 1 else real(creneau)

    monkeypatch.setattr(attente, "_candidates", stale)
    assert attente.offrir_creneau(free.pk) is None
    assert calls == [free.pk, free.pk]
    assert not Retenue.objects.filter(creneau=free).exists()
    assert offers_of(entry) == [slot.pk]


@pytest.mark.postgres
def test_two_slots_offered_at_once_to_one_entry_the_second_goes_to_the_next(requires_postgres, transactional_db):
    """Two processes offer two slots, each under its own slot's lock, and both find the same
    first entry: PostgreSQL makes the second insert wait on the first's index entry, then
    refuses it once the first commits; the second slot goes to the next in line, no 500."""
    import threading

    from django.db import transaction

    assert connection.vendor == "postgresql"
    med = f.medecin()
    x = f.creneau(med, f.future(30))
    y = f.creneau(med, f.future(31))
    first, second = f.patient(), f.patient()
    span = {"date_debut": timezone.localdate(x.debut) - timedelta(days=1),
            "date_fin": timezone.localdate(y.debut) + timedelta(days=1)}
    # Written directly: no after-commit offer of their own.
    entry = InscriptionAttente.objects.create(patient=first, medecin=med, **span)
    InscriptionAttente.objects.create(patient=second, medecin=med, **span)
    inserted = threading.Event()
    loser_pid: list[int] = []

    def winner():
        with transaction.atomic():
            retenue = attente.offrir_creneau(x.pk)  # a savepoint here: commits with this block
            inserted.set()
            with connection.cursor() as cursor:
                for _ in range(500):  # until the loser's insert waits on our row
                    if loser_pid:
                        cursor.execute("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted",
                                       [loser_pid[0]])
                        if cursor.fetchone()[0]:
                            break
                    threading.Event().wait(0.02)
                else:
                    raise AssertionError("the second offer never waited on the first")
        return retenue

    def loser():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            loser_pid.append(cursor.fetchone()[0])
        assert inserted.wait(30)
        return attente.offrir_creneau(y.pk)

    results = run_concurrently(2, lambda i: (winner, loser)[i]())
    assert all(kind == "ok" for kind, _ in results), results
    (_, won), (_, lost) = results
    assert won.creneau_id == x.pk and won.patient_id == first.pk
    assert lost is not None and lost.creneau_id == y.pk and lost.patient_id == second.pk, results
    assert offers_of(entry) == [x.pk]


def test_the_migration_keeps_each_entry_s_first_active_offer(transactional_db):
    """Rows from before the index: several active offers for one entry. The migration keeps
    the first made, closes the others as expired, then builds the index."""
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("attente", "0001_initial")], [("attente", "0002_une_offre_active_par_inscription")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old = executor.loader.project_state(before).apps
        Retenue0 = old.get_model("attente", "Retenue")
        Entry0 = old.get_model("attente", "InscriptionAttente")
        med = f.medecin()
        slots = [f.creneau(med, f.future(30 + k)) for k in range(4)]
        people = [f.patient(), f.patient()]
        today = timezone.localdate()
        entries = [Entry0.objects.create(patient_id=p.pk, medecin_id=med.pk, date_debut=today,
                                         date_fin=today + timedelta(days=5)) for p in people]
        later = timezone.now() + timedelta(minutes=10)

        def offer(k: int, entry, **extra):
            return Retenue0.objects.create(creneau_id=slots[k].pk, patient_id=entry.patient_id, offre_id=entry.pk,
                                           expire_at=later, **extra).pk

        kept = offer(0, entries[0])
        extra = [offer(1, entries[0]), offer(2, entries[0])]
        closed = offer(3, entries[0], active=False, issue="EXPIREE")
        alone = offer(3, entries[1])  # slot 3's other row is closed: the slot is free
        executor = MigrationExecutor(connection)
        executor.migrate(after)
    finally:
        MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
    rows = dict(Retenue.objects.values_list("pk", "active"))
    assert rows == {kept: True, extra[0]: False, extra[1]: False, closed: False, alone: True}
    assert set(Retenue.objects.filter(pk__in=extra).values_list("issue", flat=True)) == {Retenue.Issue.EXPIREE}
