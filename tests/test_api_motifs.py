"""A doctor's visit reasons: GET/POST /api/medecins/{id}/motifs/, PATCH/DELETE .../motifs/{id}/."""

from __future__ import annotations

import pytest

from rendezvous.models import Motif
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

FIELDS = {"id", "medecin", "libelle", "duree_minutes", "nouveaux_patients", "en_ligne", "actif"}


def url(med, motif=None) -> str:
    base = f"/api/medecins/{getattr(med, 'pk', med)}/motifs/"
    return base if motif is None else f"{base}{getattr(motif, 'pk', motif)}/"


def actor(world, name):
    a = getattr(world, name)
    return getattr(a, "user", a)


def motifs_state() -> list:
    return sorted(Motif.objects.values_list("id", "medecin_id", "libelle", "duree_minutes", "nouveaux_patients",
                                            "en_ligne", "actif"))


@pytest.fixture
def reasons(world):
    return {
        "consult": Motif.objects.create(medecin=world.med1, libelle="Consultation", duree_minutes=30),
        "desk": Motif.objects.create(medecin=world.med1, libelle="Suivi", duree_minutes=20, en_ligne=False),
        "old": Motif.objects.create(medecin=world.med1, libelle="Ancien", duree_minutes=20, actif=False),
    }


@pytest.mark.parametrize("name,expected", [
    ("p1", {"consult"}), ("med3", {"consult"}), ("admin2", {"consult"}),
    ("med1", {"consult", "desk"}), ("admin1", {"consult", "desk"}), ("sa", {"consult", "desk"}),
])
def test_who_sees_which_reasons(world, reasons, name, expected):
    r = f.client_for(actor(world, name)).get(url(world.med1))
    assert r.status_code == 200
    data = body(r)
    assert {m["id"] for m in data} == {reasons[k].pk for k in expected}
    assert all(set(m) == FIELDS for m in data)


def test_unknown_doctor_is_404(world):
    assert_error(f.client_for(world.p1).get(url(999999)), 404, "not_found")
    assert_error(f.client_for(world.sa).post(url(999999), {"libelle": "X", "duree_minutes": 20}, format="json"),
                 404, "not_found")


@pytest.mark.parametrize("name", ["med1", "admin1", "sa"])
def test_the_doctor_and_the_practice_admin_add_a_reason(world, name):
    r = f.client_for(actor(world, name)).post(
        url(world.med1), {"libelle": "  Vaccination  ", "duree_minutes": 15, "nouveaux_patients": False},
        format="json")
    assert r.status_code == 201
    data = body(r)
    assert data == {"id": data["id"], "medecin": world.med1.pk, "libelle": "Vaccination", "duree_minutes": 15,
                    "nouveaux_patients": False, "en_ligne": True, "actif": True}


@pytest.mark.parametrize("name", ["med2", "admin2", "med3", "p1"])
def test_others_cannot_write_reasons(world, reasons, name):
    client = f.client_for(actor(world, name))
    before = motifs_state()
    assert_error(client.post(url(world.med1), {"libelle": "X", "duree_minutes": 20}, format="json"),
                 403, "permission_denied")
    assert_error(client.patch(url(world.med1, reasons["consult"]), {"duree_minutes": 20}, format="json"),
                 403, "permission_denied")
    assert_error(client.delete(url(world.med1, reasons["consult"])), 403, "permission_denied")
    assert motifs_state() == before


def test_a_duplicate_active_label_is_409(world, reasons):
    client = f.client_for(world.admin1)
    before = motifs_state()
    data = assert_error(client.post(url(world.med1), {"libelle": "consultation", "duree_minutes": 20},
                                    format="json"), 409, "motif_existant")
    assert data["details"] == {"motif": reasons["consult"].pk}
    assert_error(client.patch(url(world.med1, reasons["desk"]), {"libelle": "CONSULTATION"}, format="json"),
                 409, "motif_existant")
    assert motifs_state() == before
    # A retired label may be used again; another doctor's label too.
    assert client.post(url(world.med1), {"libelle": "Ancien", "duree_minutes": 20}, format="json").status_code == 201
    assert client.post(url(world.med2), {"libelle": "Consultation", "duree_minutes": 20},
                       format="json").status_code == 201


def test_patch_changes_only_what_is_sent(world, reasons):
    r = f.client_for(world.med1.user).patch(url(world.med1, reasons["desk"]), {"en_ligne": True}, format="json")
    assert r.status_code == 200
    assert body(r) | {} == {"id": reasons["desk"].pk, "medecin": world.med1.pk, "libelle": "Suivi",
                            "duree_minutes": 20, "nouveaux_patients": True, "en_ligne": True, "actif": True}


def test_delete_retires_the_reason_and_bookings_keep_it(world, reasons):
    r = f.client_for(world.p3).post("/api/rendezvous/", {"creneau": world.slot2.pk,
                                    "motif_consultation": reasons["consult"].pk}, format="json")
    rdv_id = body(r)["id"]
    assert f.client_for(world.admin1).delete(url(world.med1, reasons["consult"])).status_code == 204
    assert Motif.objects.get(pk=reasons["consult"].pk).actif is False
    assert body(f.client_for(world.p3).get(f"/api/rendezvous/{rdv_id}/"))["motif_consultation"]["id"] == \
        reasons["consult"].pk
    # Gone from the list, unknown to further writes, and no longer bookable.
    assert reasons["consult"].pk not in {m["id"] for m in body(f.client_for(world.admin1).get(url(world.med1)))}
    assert_error(f.client_for(world.admin1).delete(url(world.med1, reasons["consult"])), 404, "not_found")
    assert_error(f.client_for(world.p3).post("/api/rendezvous/", {
        "creneau": world.slot4.pk, "motif_consultation": reasons["consult"].pk}, format="json"), 400, "motif_inconnu")


def test_a_reason_of_another_doctor_is_404_under_this_one(world, reasons):
    assert_error(f.client_for(world.admin1).patch(url(world.med2, reasons["consult"]), {"duree_minutes": 20},
                                                  format="json"), 404, "not_found")
    assert_error(f.client_for(world.admin1).delete(url(world.med1, 999999)), 404, "not_found")


@pytest.mark.parametrize("payload,field", [
    ({"duree_minutes": 20}, "libelle"),
    ({"libelle": "X"}, "duree_minutes"),
    ({"libelle": "   ", "duree_minutes": 20}, "libelle"),
    ({"libelle": "X" * 121, "duree_minutes": 20}, "libelle"),
    ({"libelle": "X", "duree_minutes": 4}, "duree_minutes"),
    ({"libelle": "X", "duree_minutes": 481}, "duree_minutes"),
    ({"libelle": "X", "duree_minutes": "long"}, "duree_minutes"),
    ({"libelle": "X", "duree_minutes": 20, "en_ligne": "parfois"}, "en_ligne"),
    ({"libelle": ["X"], "duree_minutes": 20}, "libelle"),
])
def test_bad_reasons_are_400(world, reasons, payload, field):
    before = motifs_state()
    data = assert_error(f.client_for(world.admin1).post(url(world.med1), payload, format="json"), 400,
                        "validation_error")
    assert field in data["details"]
    data = assert_error(f.client_for(world.admin1).patch(url(world.med1, reasons["consult"]),
                                                         {field: payload.get(field, None)}, format="json"),
                        400, "validation_error")
    assert motifs_state() == before
