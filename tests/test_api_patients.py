"""The practice's desk: finding a patient, making a record on the phone (GET/POST /api/patients/)."""

from __future__ import annotations

import pytest

from audit.models import Action, JournalAcces, TypeObjet
from rendezvous.models import Role, User
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body, ids, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

ITEM = {"id", "first_name", "last_name", "email", "telephone", "compte_actif"}


def search(user, q="", **params):
    return f.client_for(user).get("/api/patients/", {"q": q, **params})


def create(user, **payload):
    return f.client_for(user).post("/api/patients/", payload, format="json")


# --- who sees whom --------------------------------------------------------------------------


def test_staff_see_the_patients_booked_in_their_practice(world):
    # p1 booked with med1 (cab1), p2 with med3 (cab2), p3 nowhere.
    assert ids(search(world.admin1)) == [world.p1.pk]
    assert ids(search(world.med2.user)) == [world.p1.pk]  # any doctor of the practice
    assert ids(search(world.admin2)) == [world.p2.pk]
    assert set(ids(search(world.sa))) == {world.p1.pk, world.p2.pk, world.p3.pk}


def test_a_record_made_by_the_practice_is_visible_to_it_only(world):
    r = create(world.admin1, first_name="Jeanne", last_name="Durand", telephone="06 12 34 56 78")
    assert r.status_code == 201
    new = body(r)["id"]
    assert new in ids(search(world.med1.user))
    assert new not in ids(search(world.admin2))


@pytest.mark.parametrize("name", ["p1", "p3"])
def test_patients_cannot_search_or_create(world, name):
    user = getattr(world, name)
    assert_error(search(user), 403, "permission_denied")
    with unchanged():
        assert_error(create(user, first_name="A", last_name="B", telephone="0612345678"), 403, "permission_denied")


def test_without_a_token_it_is_401(world):
    assert_error(f.client_for().get("/api/patients/"), 401)
    assert_error(f.client_for().post("/api/patients/", {}, format="json"), 401)


def test_items_have_the_contract_shape_and_compte_actif(world):
    r = create(world.admin1, first_name="Jeanne", last_name="Durand", telephone="+33 6 12 34 56 78")
    data = body(search(world.admin1))
    assert data["count"] == 2 and "next" in data
    items = {i["id"]: i for i in data["results"]}
    assert set(items[world.p1.pk]) == ITEM
    assert items[world.p1.pk]["compte_actif"] is True
    assert items[body(r)["id"]] == {"id": body(r)["id"], "first_name": "Jeanne", "last_name": "Durand",
                                    "email": None, "telephone": "+33 6 12 34 56 78", "compte_actif": False}


def test_listing_patients_is_in_the_access_log(world):
    search(world.admin1)
    row = JournalAcces.objects.filter(acteur_id=world.admin1.pk, objet_type=TypeObjet.PATIENT).get()
    assert (row.action, row.patient_id) == (Action.LECTURE, world.p1.pk)


# --- search ---------------------------------------------------------------------------------


@pytest.fixture
def desk(world):
    """Three records of cab1 with varied names and phones."""
    def rec(first, last, tel, email=None):
        return User.objects.create(first_name=first, last_name=last, telephone=tel, email=email,
                                   role=Role.PATIENT, cree_par_cabinet=world.cab1, password="!x")
    return {
        "helene": rec("Hélène", "Lefèvre", "0612345678", "helene@exemple.fr"),
        "marc": rec("Marc", "Dupont", "+33612345678"),
        "zoe": rec("Zoé", "Martin-Dupont", "04.78.00.11.22", "zoe.md@exemple.fr"),
    }


@pytest.mark.parametrize("q,expected", [
    ("06 12 34 56 78", {"helene", "marc"}),  # digits only; 0X… finds +33X…
    ("+33 6 12 34 56 78", {"helene", "marc"}),
    ("0478001122", {"zoe"}),  # dots in the stored number
    ("04 78", {"zoe"}),
    ("dupont", {"marc", "zoe"}),
    ("DUPONT marc", {"marc"}),  # every word matches something
    ("Lefèvre", {"helene"}),
    ("hél", {"helene"}),
    ("exemple.fr", {"helene", "zoe"}),
    ("personne", set()),
])
def test_search_by_name_email_and_phone(world, desk, q, expected):
    found = set(ids(search(world.admin1, q)))
    assert found == {desk[k].pk for k in expected}


def test_search_does_not_reach_another_practice(world, desk):
    assert ids(search(world.admin2, "0612345678")) == []


def test_results_are_paginated(world, desk):
    data = body(search(world.admin1, page_size=2))
    assert data["count"] == 4 and len(data["results"]) == 2 and data["next"]
    assert_error(search(world.admin1, page=99), 404)


# --- create ---------------------------------------------------------------------------------


def test_staff_create_a_record_without_password(world):
    r = create(world.med1.user, first_name="Jeanne", last_name="Durand", telephone="06 12 34 56 78",
               email="Jeanne.Durand@Exemple.fr")
    assert r.status_code == 201
    data = body(r)
    assert set(data) == ITEM and data["email"] == "jeanne.durand@exemple.fr" and data["compte_actif"] is False
    u = User.objects.get(pk=data["id"])
    assert (u.role, u.cree_par_cabinet_id, u.has_usable_password(), u.cabinet_id) == (
        Role.PATIENT, world.cab1.pk, False, None)
    row = JournalAcces.objects.get(objet_type=TypeObjet.PATIENT, action=Action.CREATION)
    assert (row.acteur_id, row.patient_id, row.objet_id) == (world.med1.pk, u.pk, u.pk)
    # Nobody can log in with it.
    r = f.client_for().post("/api/auth/token/", {"email": "jeanne.durand@exemple.fr", "password": ""},
                            format="json")
    assert r.status_code in (400, 401)


def test_records_without_email_do_not_collide(world):
    for _ in range(2):
        assert create(world.admin1, first_name="Sans", last_name="Mail", telephone="0612345678").status_code == 201
    assert User.objects.filter(last_name="Mail", email__isnull=True).count() == 2


def test_an_existing_patient_email_is_409_naming_the_patient(world):
    with unchanged():
        data = assert_error(create(world.admin1, first_name="X", last_name="Y", telephone="0612345678",
                                   email=world.p3.email.upper()), 409, "patient_existant")
    assert data["details"] == {"patient": world.p3.pk}


def test_a_staff_email_is_409_without_an_id(world):
    with unchanged():
        data = assert_error(create(world.admin1, first_name="X", last_name="Y", telephone="0612345678",
                                   email=world.med3.user.email), 409, "email_exists")
    assert "details" not in data


@pytest.mark.parametrize("payload,field", [
    ({"last_name": "Y", "telephone": "0612345678"}, "first_name"),
    ({"first_name": "X", "telephone": "0612345678"}, "last_name"),
    ({"first_name": "X", "last_name": "Y"}, "telephone"),
    ({"first_name": "X", "last_name": "Y", "telephone": "0612"}, "telephone"),  # 4 digits
    ({"first_name": "X", "last_name": "Y", "telephone": "1234567890123456"}, "telephone"),  # 16
    ({"first_name": "X", "last_name": "Y", "telephone": "06-12-34-56-78"}, "telephone"),
    ({"first_name": "X", "last_name": "Y", "telephone": "06 12 ab 56 78"}, "telephone"),
    ({"first_name": "X", "last_name": "Y", "telephone": "06+1234567"}, "telephone"),
    ({"first_name": "X", "last_name": "Y", "telephone": ["0612345678"]}, "telephone"),
    ({"first_name": "X", "last_name": "Y", "telephone": "0612345678", "email": "pas-un-email"}, "email"),
    ({"first_name": "", "last_name": "Y", "telephone": "0612345678"}, "first_name"),
    ({"first_name": "X" * 151, "last_name": "Y", "telephone": "0612345678"}, "first_name"),
])
def test_bad_records_are_400_and_nothing_is_written(world, payload, field):
    with unchanged():
        data = assert_error(create(world.admin1, **payload), 400, "validation_error")
    assert field in data["details"]


def test_a_body_that_is_not_an_object_is_400(world):
    with unchanged():
        assert_error(f.client_for(world.admin1).post("/api/patients/", [1], format="json"), 400)
