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
