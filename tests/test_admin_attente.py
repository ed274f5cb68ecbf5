"""Holds and the waiting list in the Django admin (``attente/admin.py``): a super admin
sees every practice's rows, a practice admin and a doctor only theirs (another practice's
row by its URL is a 404), read-only for everyone, filters, search, the access log, and the
two actions through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from attente import services as attente
from attente.models import InscriptionAttente, Retenue
from audit.models import JournalAcces
from tests import factories as f
from tests import helpers

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

HOLDS = "/admin/attente/retenue/"
LIST = "/admin/attente/inscriptionattente/"


def login(user) -> Client:
    user.is_staff = True
    user.save()
    c = Client()
    c.force_login(user)
    return c


def listed(client: Client, url: str, **params) -> set[int]:
    r = client.get(url, params)
    assert r.status_code == 200, r.status_code
    return {o.pk for o in r.context["cl"].queryset}


@pytest.fixture
def rows(world):
    """A hold and an entry in each practice (cab1: med1's, med2's; cab2: med3's)."""
    today = timezone.localdate()
    return {
        "hold1": attente.retenir_creneau(patient=world.p3, creneau=world.slot2),
        "hold2": attente.retenir_creneau(patient=world.p1, creneau=world.slot4),
        "hold3": Retenue.objects.create(
            creneau=f.creneau(world.med3, f.future(60)),
            patient=world.p2,
            expire_at=timezone.now() + timedelta(minutes=5),
        ),
        "entry1": attente.inscrire(
            patient=world.p1, medecin=world.med1, date_debut=today, date_fin=today + timedelta(days=10)
        ),
        "entry2": attente.inscrire(
            patient=world.p2, medecin=world.med2, date_debut=today, date_fin=today + timedelta(days=10)
        ),
        "entry3": attente.inscrire(
            patient=world.p3, medecin=world.med3, date_debut=today, date_fin=today + timedelta(days=3)
        ),
    }


def test_a_super_admin_sees_every_practice_s_rows(world, rows):
    c = login(world.sa)
    assert listed(c, HOLDS) == {rows[k].pk for k in ("hold1", "hold2", "hold3")}
    assert listed(c, LIST) == {rows[k].pk for k in ("entry1", "entry2", "entry3")}
    assert c.get(f"{HOLDS}{rows['hold3'].pk}/change/").status_code == 200
    page = c.get(LIST).content.decode()
    assert str(world.p3) in page and "Cabinet de la Gare" in page  # the practice filter is offered


def test_a_practice_admin_sees_their_practice_only_read_only(world, rows):
    c = login(world.admin1)
    assert listed(c, HOLDS) == {rows["hold1"].pk, rows["hold2"].pk}
    assert listed(c, LIST) == {rows["entry1"].pk, rows["entry2"].pk}
    for url, theirs, mine in ((HOLDS, rows["hold3"], rows["hold1"]), (LIST, rows["entry3"], rows["entry1"])):
        for page in ("change", "delete", "history"):
            assert c.get(f"{url}{theirs.pk}/{page}/").status_code == 404, (url, page)
        detail = c.get(f"{url}{mine.pk}/change/")
        assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
        assert c.post(f"{url}{mine.pk}/change/", {}).status_code == 403
        assert c.post(f"{url}{mine.pk}/delete/", {"post": "yes"}).status_code == 403
        assert c.get(f"{url}add/").status_code == 403
    assert (
        Retenue.objects.filter(active=True).count() == 3 and InscriptionAttente.objects.filter(active=True).count() == 3
    )
    page = c.get(LIST).content.decode()
    assert "Cabinet de la Gare" not in page  # no practice filter for one practice
    # The rows name patients: the list was written to the access log, per patient.
    assert JournalAcces.objects.filter(acteur=world.admin1, patient_id=world.p1.pk).exists()


def test_a_doctor_reads_their_own_agenda_s_rows_and_has_no_action(world, rows):
    c = login(world.med1.user)
    assert listed(c, HOLDS) == {rows["hold1"].pk}
    assert listed(c, LIST) == {rows["entry1"].pk}
    assert c.get(f"{LIST}{rows['entry2'].pk}/change/").status_code == 404
    c.post(LIST, {"action": "retirer", "_selected_action": [rows["entry1"].pk]})
    assert InscriptionAttente.objects.get(pk=rows["entry1"].pk).active  # not the doctor's to do


def test_patients_and_staff_without_the_flag_stay_out(world, rows):
    for user in (world.p1, world.admin2):
        c = Client()
        c.force_login(user)
        assert c.get(HOLDS).status_code == 302  # to the admin's login page
        assert c.get(LIST).status_code == 302


def test_filters_and_search(world, rows):
    c = login(world.sa)
    assert listed(c, HOLDS, vivante="1") == {rows[k].pk for k in ("hold1", "hold2", "hold3")}
    Retenue.objects.filter(pk=rows["hold3"].pk).update(expire_at=timezone.now() - timedelta(seconds=1))
    assert listed(c, HOLDS, vivante="1") == {rows["hold1"].pk, rows["hold2"].pk}
    assert listed(c, HOLDS, vivante="0") == {rows["hold3"].pk}  # lapsed, not yet tidied
    assert listed(c, HOLDS, origine="offre") == set()
    assert listed(c, HOLDS, origine="reservation") == {rows[k].pk for k in ("hold1", "hold2", "hold3")}
    assert listed(c, LIST, q=world.p2.email) == {rows["entry2"].pk}
    assert listed(c, LIST, medecin__exact=world.med3.pk) == {rows["entry3"].pk}
    assert listed(c, LIST, active__exact="1") == {rows[k].pk for k in ("entry1", "entry2", "entry3")}


def test_the_actions_go_through_the_services_within_the_practice(world, rows, django_capture_on_commit_callbacks):
    c = login(world.admin1)
    with django_capture_on_commit_callbacks(execute=True):
        c.post(HOLDS, {"action": "liberer", "_selected_action": [rows["hold1"].pk, rows["hold3"].pk]})
        c.post(LIST, {"action": "retirer", "_selected_action": [rows["entry1"].pk, rows["entry3"].pk]})
    assert Retenue.objects.get(pk=rows["hold1"].pk).issue == Retenue.Issue.LIBEREE
    assert Retenue.objects.get(pk=rows["hold3"].pk).active  # another practice's: untouched
    assert not InscriptionAttente.objects.get(pk=rows["entry1"].pk).active
    assert InscriptionAttente.objects.get(pk=rows["entry3"].pk).active
    # Released: the slot is free again, anyone may hold it.
    assert attente.retenir_creneau(patient=world.p2, creneau=world.slot2).patient_id == world.p2.pk


def test_the_doctor_filter_offers_only_the_practices_doctors(world, rows):
    c = login(world.admin1)
    for url in (HOLDS, LIST):
        page = c.get(url).content.decode()
        assert "Dr " + world.med1.user.get_full_name() in page and world.med3.user.last_name not in page
    assert listed(c, HOLDS, medecin=str(world.med2.pk)) == {rows["hold2"].pk}
    assert listed(c, LIST, medecin=str(world.med3.pk)) == set()
