"""A practice's rules (GET/PATCH /api/cabinets/{id}/regles/, PATCH /api/medecins/{id}/) and the
booking-side refusals: each has its code, and nothing is written on refusal."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from rendezvous import services
from rendezvous.models import Cabinet, Creneau, Medecin, Motif, RendezVous, StatutRendezVous
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

DEFAULTS = {"delai_annulation_heures": 0, "preavis_minimum_minutes": 0, "max_rdv_a_venir": None}


def regles_url(cab) -> str:
    return f"/api/cabinets/{getattr(cab, 'pk', cab)}/regles/"


def rules(cab: Cabinet) -> dict:
    cab.refresh_from_db()
    return {k: getattr(cab, k) for k in DEFAULTS}


def book(user, creneau, **extra):
    return f.client_for(user).post("/api/rendezvous/", {"creneau": creneau.pk, **extra}, format="json")


def set_rules(cab: Cabinet, **values) -> None:
    Cabinet.objects.filter(pk=cab.pk).update(**values)
    cab.refresh_from_db()


# --- the rules endpoint ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["admin1", "med1", "med2", "sa"])
def test_staff_of_the_practice_read_its_rules(world, name):
    actor = getattr(getattr(world, name), "user", getattr(world, name))
    r = f.client_for(actor).get(regles_url(world.cab1))
    assert r.status_code == 200 and body(r) == DEFAULTS


@pytest.mark.parametrize("name", ["admin2", "med3", "p1"])
def test_others_cannot_read_the_rules_endpoint(world, name):
    actor = getattr(getattr(world, name), "user", getattr(world, name))
    assert_error(f.client_for(actor).get(regles_url(world.cab1)), 403, "permission_denied")


def test_unknown_practice_is_404(world):
    assert_error(f.client_for(world.sa).get(regles_url(999999)), 404, "not_found")
    assert_error(f.client_for(world.sa).patch(regles_url(999999), {}, format="json"), 404, "not_found")


@pytest.mark.parametrize("name", ["admin1", "sa"])
def test_the_practice_admin_changes_its_rules(world, name):
    r = f.client_for(getattr(world, name)).patch(
        regles_url(world.cab1), {"delai_annulation_heures": 24, "max_rdv_a_venir": 2}, format="json")
    assert r.status_code == 200
    expected = {**DEFAULTS, "delai_annulation_heures": 24, "max_rdv_a_venir": 2}
    assert body(r) == expected and rules(world.cab1) == expected
    # null lifts the cap again
    r = f.client_for(world.admin1).patch(regles_url(world.cab1), {"max_rdv_a_venir": None}, format="json")
    assert body(r)["max_rdv_a_venir"] is None and rules(world.cab1)["max_rdv_a_venir"] is None


@pytest.mark.parametrize("name", ["med1", "admin2", "med3", "p1"])
def test_others_cannot_change_the_rules(world, name):
    actor = getattr(getattr(world, name), "user", getattr(world, name))
    assert_error(f.client_for(actor).patch(regles_url(world.cab1), {"preavis_minimum_minutes": 60},
                                           format="json"), 403, "permission_denied")
    assert rules(world.cab1) == DEFAULTS


@pytest.mark.parametrize("payload,field", [
    ({"delai_annulation_heures": -1}, "delai_annulation_heures"),
    ({"delai_annulation_heures": 721}, "delai_annulation_heures"),
    ({"delai_annulation_heures": "abc"}, "delai_annulation_heures"),
    ({"delai_annulation_heures": None}, "delai_annulation_heures"),
    ({"preavis_minimum_minutes": 43201}, "preavis_minimum_minutes"),
    ({"preavis_minimum_minutes": 1.5}, "preavis_minimum_minutes"),
    ({"max_rdv_a_venir": 0}, "max_rdv_a_venir"),
    ({"max_rdv_a_venir": 101}, "max_rdv_a_venir"),
    ({"max_rdv_a_venir": [2]}, "max_rdv_a_venir"),
    ({"max_rdv_a_venir": 10**30}, "max_rdv_a_venir"),
])
def test_bad_rules_are_400_and_nothing_changes(world, payload, field):
    data = assert_error(f.client_for(world.admin1).patch(regles_url(world.cab1), payload, format="json"),
                        400, "validation_error")
    assert field in data["details"]
    assert rules(world.cab1) == DEFAULTS


def test_rules_are_shown_in_practice_and_doctor_payloads(world):
    set_rules(world.cab1, delai_annulation_heures=24, max_rdv_a_venir=3)
    expected = {"delai_annulation_heures": 24, "preavis_minimum_minutes": 0, "max_rdv_a_venir": 3}
    client = f.client_for(world.p1)
    assert body(client.get(f"/api/cabinets/{world.cab1.pk}/"))["regles"] == expected
    med = body(client.get(f"/api/medecins/{world.med1.pk}/"))
    assert med["regles"] == expected and med["cabinet"]["regles"] == expected
    assert med["nouveaux_patients_en_ligne"] is True


def test_annulable_jusqu_a_follows_the_deadline(world):
    set_rules(world.cab1, delai_annulation_heures=24)
    data = body(f.client_for(world.p1).get(f"/api/rendezvous/{world.rdv1.pk}/"))
    expected = (world.slot1.debut - timedelta(hours=24)).astimezone(world.cab1.tzinfo).isoformat()
    assert data["annulable_jusqu_a"] == expected
    f.client_for(world.p1).post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json")
    assert body(f.client_for(world.p1).get(f"/api/rendezvous/{world.rdv1.pk}/"))["annulable_jusqu_a"] is None


# --- new patients online (PATCH /api/medecins/{id}/) ----------------------------------------


@pytest.mark.parametrize("name", ["med1", "admin1", "sa"])
def test_the_doctor_and_the_practice_admin_set_new_patients_online(world, name):
    actor = getattr(getattr(world, name), "user", getattr(world, name))
    r = f.client_for(actor).patch(f"/api/medecins/{world.med1.pk}/", {"nouveaux_patients_en_ligne": False},
                                  format="json")
    assert r.status_code == 200 and body(r)["nouveaux_patients_en_ligne"] is False
    assert Medecin.objects.get(pk=world.med1.pk).nouveaux_patients_en_ligne is False


@pytest.mark.parametrize("name", ["med2", "admin2", "p1"])
def test_others_cannot_set_new_patients_online(world, name):
    actor = getattr(getattr(world, name), "user", getattr(world, name))
    assert_error(f.client_for(actor).patch(f"/api/medecins/{world.med1.pk}/", {"nouveaux_patients_en_ligne": False},
                                           format="json"), 403, "permission_denied")
    assert Medecin.objects.get(pk=world.med1.pk).nouveaux_patients_en_ligne is True


@pytest.mark.parametrize("payload", [{}, {"nouveaux_patients_en_ligne": "peut-être"},
                                     {"nouveaux_patients_en_ligne": None}, {"specialite": "X"}])
def test_bad_new_patients_flag_is_400(world, payload):
    assert_error(f.client_for(world.admin1).patch(f"/api/medecins/{world.med1.pk}/", payload, format="json"),
                 400, "validation_error")
    med = Medecin.objects.get(pk=world.med1.pk)
    assert (med.nouveaux_patients_en_ligne, med.specialite) == (True, "Médecine générale")


def test_unknown_doctor_patch_is_404(world):
    assert_error(f.client_for(world.sa).patch("/api/medecins/999999/", {"nouveaux_patients_en_ligne": False},
                                              format="json"), 404)


# --- refusals ---------------------------------------------------------------------------------


def test_preavis_insuffisant(world):
    set_rules(world.cab1, preavis_minimum_minutes=120)
    soon = f.creneau(world.med1, f.future(1))
    with unchanged():
        data = assert_error(book(world.p3, soon), 409, "preavis_insuffisant")
    assert data["details"] == {"preavis_minimum_minutes": 120}
    # Far enough ahead is fine, and staff are not bound.
    assert book(world.p3, world.slot2).status_code == 201
    assert book(world.admin1, soon, patient=world.p1.pk).status_code == 201


def test_limite_atteinte_counts_upcoming_active_bookings_in_the_practice(world):
    set_rules(world.cab1, max_rdv_a_venir=2)
    extra = [f.creneau(world.med1, f.future(60 + i)) for i in range(3)]
    # p1 already has rdv1 (slot1) in cab1: one more is allowed, then the cap bites.
    assert book(world.p1, world.slot2).status_code == 201
    with unchanged():
        data = assert_error(book(world.p1, extra[0]), 409, "limite_atteinte")
    assert data["details"] == {"max_rdv_a_venir": 2}
    # Another practice's booking does not count (p1 books in cab2 freely)...
    assert book(world.p1, f.creneau(world.med3, f.future(70))).status_code == 201
    # ...a cancelled one frees a place...
    f.client_for(world.p1).post(f"/api/rendezvous/{world.rdv1.pk}/cancel/", {}, format="json")
    assert book(world.p1, extra[0]).status_code == 201
    # ...a past one does not count (moved into the past by hand, as time would).
    RendezVous.objects.filter(creneau=world.slot2).update(statut=StatutRendezVous.CONFIRME)
    Creneau.objects.filter(pk=world.slot2.pk).update(debut=f.future(-30), fin=f.future(-29))
    assert book(world.p1, extra[1]).status_code == 201
    # Staff are not bound by it.
    assert book(world.admin1, extra[2], patient=world.p1.pk).status_code == 201


def test_nouveaux_patients_refuses_by_the_doctor(world):
    Medecin.objects.filter(pk=world.med1.pk).update(nouveaux_patients_en_ligne=False)
    with unchanged():
        assert_error(book(world.p3, world.slot2), 403, "nouveaux_patients_refuses")
    # p1 already saw med1: welcome.
    assert book(world.p1, world.slot2).status_code == 201
    # A cancelled booking does not make one a known patient.
    other = f.creneau(world.med1, f.future(80))
    f.rendezvous(world.p3, f.creneau(world.med1, f.future(81)), statut=StatutRendezVous.ANNULE,
                 annule_at=f.future(0))
    with unchanged():
        assert_error(book(world.p3, other), 403, "nouveaux_patients_refuses")
    # The desk books them anyway.
    assert book(world.admin1, other, patient=world.p1.pk).status_code == 201


def test_nouveaux_patients_refuses_by_the_motif(world):
    closed = Motif.objects.create(medecin=world.med1, libelle="Bilan", duree_minutes=30, nouveaux_patients=False)
    Motif.objects.create(medecin=world.med1, libelle="Consultation", duree_minutes=30)
    with unchanged():
        assert_error(book(world.p3, world.slot2, motif_consultation=closed.pk), 403, "nouveaux_patients_refuses")
    assert book(world.p1, world.slot2, motif_consultation=closed.pk).status_code == 201


def test_motif_requis_when_the_doctor_has_online_motifs(world):
    m = Motif.objects.create(medecin=world.med1, libelle="Consultation", duree_minutes=20)
    with unchanged():
        assert_error(book(world.p3, world.slot2), 400, "motif_requis")
    r = book(world.p3, world.slot2, motif_consultation=m.pk, motif="Toux")
    assert r.status_code == 201
    assert body(r)["motif_consultation"] == {"id": m.pk, "libelle": "Consultation", "duree_minutes": 20}
    assert body(r)["motif"] == "Toux"
    # Staff may book without one.
    assert book(world.admin1, f.creneau(world.med1, f.future(90)), patient=world.p1.pk).status_code == 201


def test_motifs_not_online_do_not_make_one_required(world):
    Motif.objects.create(medecin=world.med1, libelle="Au cabinet seulement", duree_minutes=20, en_ligne=False)
    Motif.objects.create(medecin=world.med1, libelle="Retiré", duree_minutes=20, actif=False)
    assert book(world.p3, world.slot2).status_code == 201


@pytest.mark.parametrize("case", ["other_doctor", "inactive", "not_online", "unknown"])
def test_motif_inconnu(world, case):
    motif_id = {
        "other_doctor": lambda: Motif.objects.create(medecin=world.med2, libelle="X", duree_minutes=20).pk,
        "inactive": lambda: Motif.objects.create(medecin=world.med1, libelle="X", duree_minutes=20, actif=False).pk,
        "not_online": lambda: Motif.objects.create(medecin=world.med1, libelle="X", duree_minutes=20,
                                                   en_ligne=False).pk,
        "unknown": lambda: 999999,
    }[case]()
    with unchanged():
        assert_error(book(world.p3, world.slot2, motif_consultation=motif_id), 400, "motif_inconnu")


def test_staff_may_use_a_motif_not_open_online_but_not_another_doctors(world):
    desk_only = Motif.objects.create(medecin=world.med1, libelle="Suivi", duree_minutes=20, en_ligne=False)
    other = Motif.objects.create(medecin=world.med2, libelle="Suivi", duree_minutes=20)
    with unchanged():
        assert_error(book(world.admin1, world.slot2, patient=world.p1.pk, motif_consultation=other.pk),
                     400, "motif_inconnu")
    assert book(world.admin1, world.slot2, patient=world.p1.pk, motif_consultation=desk_only.pk).status_code == 201


@pytest.mark.parametrize("who", ["p3", "admin1"])
def test_creneau_trop_court_binds_everyone(world, who):
    long = Motif.objects.create(medecin=world.med1, libelle="Long", duree_minutes=45)
    extra = {"patient": world.p1.pk} if who == "admin1" else {}
    with unchanged():
        data = assert_error(book(getattr(world, who), world.slot2, motif_consultation=long.pk, **extra),
                            409, "creneau_trop_court")
    assert data["details"] == {"duree_minutes": 45, "creneau_minutes": 30}


@pytest.mark.parametrize("value", ["x", 0, -1, 10**30, [1], 1.5])
def test_a_bad_motif_consultation_is_400(world, value):
    with unchanged():
        data = assert_error(book(world.p3, world.slot2, motif_consultation=value), 400, "validation_error")
    assert "motif_consultation" in data["details"]


# --- the cap holds under a race (PostgreSQL) ---------------------------------------------------


@pytest.mark.postgres
def test_race_two_bookings_of_one_patient_cannot_pass_the_cap(requires_postgres, transactional_db):
    assert connection.vendor == "postgresql"
    cab = f.cabinet(max_rdv_a_venir=1)
    meds = [f.medecin(cab) for _ in range(2)]
    n = 4
    slots = [f.creneau(meds[i % 2], f.future(30 + i)) for i in range(n)]
    pat = f.patient()
    barrier = threading.Barrier(n)
    results: list[str] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            services.book_creneau(patient=pat, creneau=Creneau.objects.select_related("medecin__cabinet")
                                  .get(pk=slots[i].pk))
            results.append("ok")
        except Exception as exc:  # noqa: BLE001 - the code is what we count
            results.append(getattr(exc, "code", repr(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert sorted(results) == ["limite_atteinte"] * (n - 1) + ["ok"], results
    assert RendezVous.objects.filter(patient=pat).count() == 1
