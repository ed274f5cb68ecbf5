"""``/api/medecins/{id}/horaires/`` and ``/api/medecins/{id}/absences/``: who may, what
they answer, and every bad input a JSON error with nothing changed."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from realtime.models import Event
from rendezvous.models import Absence, Creneau, Horaire
from rendezvous.serializers import rendezvous_data
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

WEEK = [
    {"jour": 2, "debut": "14:00", "fin": "15:00", "duree_minutes": 20},
    {"jour": 0, "debut": "09:00", "fin": "10:00", "duree_minutes": 30},
]
ABSENCE_FIELDS = {"id", "medecin", "debut", "fin", "motif", "cree_par", "created_at"}


def hours_url(medecin_id) -> str:
    return f"/api/medecins/{medecin_id}/horaires/"


def absences_url(medecin_id, absence_id=None) -> str:
    return f"/api/medecins/{medecin_id}/absences/" + (f"{absence_id}/" if absence_id else "")


def put(user, medecin_id, payload):
    return f.client_for(user).put(hours_url(medecin_id), payload, format="json")


def who(world, name):
    return {"med1": world.med1.user, "med2": world.med2.user, "med3": world.med3.user, "admin1": world.admin1,
            "admin2": world.admin2, "sa": world.sa, "p1": world.p1}[name]


# --- weekly hours --------------------------------------------------------------------------


def expected_week_slots(medecin) -> list[datetime]:
    tz = ZoneInfo("Europe/Paris")
    now = timezone.now()
    others = list(Creneau.objects.filter(medecin=medecin, actif=True, genere=False).values_list("debut", "fin"))
    today = timezone.localdate(now, tz)
    starts = [
        datetime.combine(today + timedelta(days=n), time(h, m), tz)
        for n in range(7 * 8)
        for jour, h, m in [(0, 9, 0), (0, 9, 30), (2, 14, 0), (2, 14, 20), (2, 14, 40)]
        if (today + timedelta(days=n)).weekday() == jour
    ]
    length = {0: timedelta(minutes=30), 2: timedelta(minutes=20)}
    return [d for d in starts if d > now
            and not any(a < d + length[d.weekday()] and b > d for a, b in others)]


@pytest.mark.parametrize("name", ["med1", "admin1", "sa"])
def test_the_doctor_practice_admins_and_super_admins_read_and_replace_hours(world, name):
    user = who(world, name)
    r = f.client_for(user).get(hours_url(world.med1.pk))
    assert r.status_code == 200 and body(r) == {"horaires": [], "timezone": "Europe/Paris"}
    r = put(user, world.med1.pk, WEEK)
    data = body(r)
    assert r.status_code == 200, data
    expected = [{"jour": 0, "debut": "09:00", "fin": "10:00", "duree_minutes": 30},
                {"jour": 2, "debut": "14:00", "fin": "15:00", "duree_minutes": 20}]
    made = Creneau.objects.filter(medecin=world.med1, genere=True, actif=True)
    assert data == {"horaires": expected, "timezone": "Europe/Paris", "crees": made.count(), "retires": 0}
    # 8 weeks ahead: Mondays 09:00/09:30 and Wednesdays 14:00/14:20/14:40, Paris time, minus
    # those already past and those over the world's own slots (counted here, not by the
    # generator: the expectation must not depend on the day the suite runs).
    assert made.count() == len(expected_week_slots(world.med1))
    assert all(c.debut > timezone.now() for c in made)
    events = Event.objects.filter(name="creneau:available", data__medecin=world.med1.pk)
    assert sorted(events.values_list("data__id", flat=True)) == sorted(
        [world.slot1.pk, world.slot2.pk] + list(made.values_list("pk", flat=True)))
    assert body(f.client_for(user).get(hours_url(world.med1.pk)))["horaires"] == expected
    # The same week again: nothing to do.
    assert body(put(user, world.med1.pk, list(reversed(WEEK))))[
        "crees"] == 0 and made.count() == data["crees"]


@pytest.mark.parametrize("name", ["med2", "med3", "admin2", "p1"])
def test_others_cannot_read_or_change_a_doctor_s_hours(world, name):
    user = who(world, name)
    Horaire.objects.create(medecin=world.med1, jour=0, debut="09:00", fin="10:00", duree_minutes=30)
    assert_error(f.client_for(user).get(hours_url(world.med1.pk)), 403, "permission_denied")
    with unchanged():
        assert_error(put(user, world.med1.pk, WEEK), 403, "permission_denied")


def test_hours_need_a_token(world):
    assert_error(f.client_for().get(hours_url(world.med1.pk)), 401, "not_authenticated")
    with unchanged():
        assert_error(f.client_for().put(hours_url(world.med1.pk), WEEK, format="json"), 401)


@pytest.mark.parametrize("medecin_id", ["999999", "0", str(2**63 - 1), str(2**63), "abc", "-1"])
def test_unknown_doctor_is_404(world, medecin_id):
    assert_error(f.client_for(world.sa).get(hours_url(medecin_id)), 404, "not_found")
    with unchanged():
        assert_error(put(world.sa, medecin_id, WEEK), 404, "not_found")
        assert_error(f.client_for(world.sa).post(absences_url(medecin_id), {}, format="json"), 404, "not_found")


def test_a_patient_s_user_id_is_not_a_doctor(world):
    assert_error(f.client_for(world.sa).get(hours_url(world.p1.pk)), 404, "not_found")


def plage(**kw) -> dict:
    return {"jour": 0, "debut": "09:00", "fin": "12:00", "duree_minutes": 30, **kw}


BAD_WEEKS = [
    ("overlap", [plage(), plage(debut="11:30", fin="13:00")], "horaires_chevauchement"),
    ("inside", [plage(), plage(debut="10:00", fin="11:00")], "horaires_chevauchement"),
    ("fin_egale", [plage(fin="09:00")], "validation_error"),
    ("fin_avant", [plage(debut="14:00", fin="12:00")], "validation_error"),
    ("duree_4", [plage(duree_minutes=4)], "validation_error"),
    ("duree_481", [plage(debut="00:00", fin="23:00", duree_minutes=481)], "validation_error"),
    ("duree_decimale", [plage(duree_minutes=30.5)], "validation_error"),
    ("duree_texte", [plage(duree_minutes="trente")], "validation_error"),
    ("plus_court_qu_un_creneau", [plage(fin="09:20")], "validation_error"),
    ("jour_7", [plage(jour=7)], "validation_error"),
    ("jour_negatif", [plage(jour=-1)], "validation_error"),
    ("jour_texte", [plage(jour="lundi")], "validation_error"),
    ("heure_9h", [plage(debut="9h")], "validation_error"),
    ("heure_25", [plage(fin="25:00")], "validation_error"),
    ("heure_secondes", [plage(debut="09:00:00")], "validation_error"),
    ("heure_nulle", [plage(debut=None)], "validation_error"),
    ("champ_manquant", [{"jour": 0, "debut": "09:00", "fin": "12:00"}], "validation_error"),
    ("objet", {"horaires": [plage()]}, "validation_error"),
    ("liste_de_listes", [[plage()]], "validation_error"),
    ("texte", "lundi 9h-12h", "validation_error"),
    ("trop_de_plages", [plage(jour=j % 7, debut=f"{j // 7:02d}:00", fin=f"{j // 7:02d}:30")
                        for j in range(71)], "validation_error"),
]


@pytest.mark.parametrize("payload, code", [(p, c) for _, p, c in BAD_WEEKS], ids=[n for n, _, _ in BAD_WEEKS])
def test_bad_weeks_are_400_and_change_nothing(world, payload, code):
    Horaire.objects.create(medecin=world.med1, jour=1, debut="09:00", fin="10:00", duree_minutes=30)
    with unchanged():
        data = assert_error(put(world.admin1, world.med1.pk, payload), 400, code)
    if code == "horaires_chevauchement":
        assert data["details"]["chevauchements"][0]["jour"] == 0
    assert f.client_for(world.med1.user).get(hours_url(world.med1.pk)).status_code == 200  # still serving


def test_seventy_ranges_are_fine(world):
    week = [plage(jour=j % 7, debut=f"{j // 7:02d}:00", fin=f"{j // 7:02d}:30") for j in range(70)]
    r = put(world.med1.user, world.med1.pk, week)
    assert r.status_code == 200, body(r)
    assert len(body(r)["horaires"]) == 70


def test_new_hours_withdraw_the_free_generated_slots_that_no_longer_fit(world):
    every_day = [plage(jour=j, debut="09:00", fin="10:00", duree_minutes=30) for j in range(7)]
    first = body(put(world.med1.user, world.med1.pk, every_day))
    booked = Creneau.objects.filter(medecin=world.med1, genere=True).order_by("debut").last()
    f.rendezvous(world.p3, booked)
    shorter = [plage(jour=j, debut="09:00", fin="09:30", duree_minutes=30) for j in range(7)]
    data = body(put(world.med1.user, world.med1.pk, shorter))
    # Every 09:30 slot goes, except the booked one if it is a 09:30 one.
    half = first["crees"] // 2
    assert data["crees"] == 0 and data["retires"] in (half, half - 1)
    assert Creneau.objects.get(pk=booked.pk).actif


# --- absences ------------------------------------------------------------------------------


def test_an_absence_withdraws_free_slots_and_lists_the_bookings_to_move(world):
    world.p1.telephone = "06 11 22 33 44"
    world.p1.save()
    # slot1 (booked by p1) at +48 h and slot2 (free) at +49 h, both med1's.
    debut, fin = world.slot1.debut - timedelta(minutes=10), world.slot2.fin
    r = f.client_for(world.admin1).post(absences_url(world.med1.pk), {
        "debut": debut.isoformat(), "fin": fin.isoformat(), "motif": "Congrès"}, format="json")
    data = body(r)
    assert r.status_code == 201, data
    absence = Absence.objects.get()
    assert set(data) == {"absence", "creneaux_retires", "rendezvous_a_deplacer"}
    assert set(data["absence"]) == ABSENCE_FIELDS
    assert data["absence"]["id"] == absence.pk and data["absence"]["medecin"] == world.med1.pk
    assert data["absence"]["motif"] == "Congrès" and data["absence"]["cree_par"] == world.admin1.pk
    assert data["absence"]["debut"] == timezone.localtime(debut, world.cab1.tzinfo).isoformat()
    assert data["creneaux_retires"] == 1
    expected = dict(rendezvous_data(world.rdv1))
    expected["patient"] = {**expected["patient"], "telephone": "06 11 22 33 44"}
    assert data["rendezvous_a_deplacer"] == [expected]
    world.slot2.refresh_from_db()
    world.slot1.refresh_from_db()
    assert not world.slot2.actif and world.slot1.actif
    withdrawn = Event.objects.get(name="creneau:unavailable", data__id=world.slot2.pk)
    assert list(withdrawn.rooms.values_list("room", flat=True)) == [f"creneaux:{world.med1.pk}"]
    listed = body(f.client_for(world.med1.user).get(absences_url(world.med1.pk)))
    assert listed["count"] == 1 and listed["results"] == [data["absence"]]


def test_absence_list_filter(world):
    past = Absence.objects.create(medecin=world.med1, debut=f.future(-5), fin=f.future(-4))
    ahead = Absence.objects.create(medecin=world.med1, debut=f.future(4), fin=f.future(5))
    Absence.objects.create(medecin=world.med2, debut=f.future(4), fin=f.future(5))
    client = f.client_for(world.med1.user)
    assert [a["id"] for a in body(client.get(absences_url(world.med1.pk)))["results"]] == [past.pk, ahead.pk]
    assert [a["id"] for a in body(client.get(absences_url(world.med1.pk) + "?a_venir=true"))["results"]] == [
        ahead.pk]
    assert [a["id"] for a in body(client.get(absences_url(world.med1.pk) + "?a_venir=false"))["results"]] == [
        past.pk]
    assert_error(client.get(absences_url(world.med1.pk) + "?a_venir=peut-etre"), 400, "validation_error")


@pytest.mark.parametrize("name", ["med2", "med3", "admin2", "p1"])
def test_others_cannot_see_declare_or_delete_absences(world, name):
    user = who(world, name)
    absence = Absence.objects.create(medecin=world.med1, debut=f.future(4), fin=f.future(5))
    client = f.client_for(user)
    assert_error(client.get(absences_url(world.med1.pk)), 403, "permission_denied")
    with unchanged():
        assert_error(client.post(absences_url(world.med1.pk), {
            "debut": f.future(6).isoformat(), "fin": f.future(7).isoformat()}, format="json"),
            403, "permission_denied")
        assert_error(client.delete(absences_url(world.med1.pk, absence.pk)), 403, "permission_denied")


BAD_ABSENCES = [
    ("passee", {"debut": -5, "fin": -1}, 400, "absence_passee"),
    ("fin_egale", {"debut": 5, "fin": 5}, 400, "validation_error"),
    ("fin_avant", {"debut": 5, "fin": 4}, 400, "validation_error"),
    ("plus_d_un_an", {"debut": 5, "fin": 5 + 367 * 24}, 400, "validation_error"),
    ("sans_debut", {"fin": 5}, 400, "validation_error"),
    ("sans_fin", {"debut": 5}, 400, "validation_error"),
    ("date_texte", {"debut": "demain", "fin": 5}, 400, "validation_error"),
    ("an_1", {"debut": "0001-01-01T00:00:00", "fin": 5}, 400, "validation_error"),
    ("an_9999", {"debut": 5, "fin": "9999-12-31T23:59:59"}, 400, "validation_error"),
    ("motif_long", {"debut": 5, "fin": 6, "motif": "x" * 201}, 400, "validation_error"),
    ("motif_nombre", {"debut": 5, "fin": 6, "motif": {"a": 1}}, 400, "validation_error"),
]


@pytest.mark.parametrize("payload, status, code", [(p, s, c) for _, p, s, c in BAD_ABSENCES],
                         ids=[n for n, *_ in BAD_ABSENCES])
def test_bad_absences_are_json_errors_and_change_nothing(world, payload, status, code):
    payload = {k: f.future(v).isoformat() if isinstance(v, int) else v for k, v in payload.items()}
    with unchanged():
        assert_error(f.client_for(world.med1.user).post(absences_url(world.med1.pk), payload, format="json"),
                     status, code)


def test_absence_body_not_an_object_is_400(world):
    with unchanged():
        assert_error(f.client_for(world.med1.user).post(absences_url(world.med1.pk), [1, 2], format="json"),
                     400, "validation_error")


def test_deleting_a_future_absence_regenerates_its_period(world):
    put(world.med1.user, world.med1.pk, [plage(jour=j, debut="09:00", fin="10:00") for j in range(7)])
    tz = world.cab1.tzinfo
    in_ten_days = timezone.localdate(timezone=tz) + timedelta(days=10)
    start = timezone.make_aware(timezone.datetime.combine(in_ten_days, timezone.datetime.min.time()), tz)
    r = f.client_for(world.admin1).post(absences_url(world.med1.pk), {
        "debut": start.isoformat(), "fin": (start + timedelta(days=1)).isoformat()}, format="json")
    assert body(r)["creneaux_retires"] == 2
    absence_id = body(r)["absence"]["id"]
    day = Creneau.objects.filter(medecin=world.med1, actif=True, debut__gte=start, debut__lt=start + timedelta(days=1))
    assert day.count() == 0
    r = f.client_for(world.med1.user).delete(absences_url(world.med1.pk, absence_id))
    assert r.status_code == 204 and r.content == b""
    assert day.count() == 2 and not Absence.objects.exists()


def test_deleting_a_past_absence_is_409(world):
    absence = Absence.objects.create(medecin=world.med1, debut=f.future(-5), fin=f.future(-4))
    with unchanged():
        assert_error(f.client_for(world.admin1).delete(absences_url(world.med1.pk, absence.pk)), 409,
                     "absence_passee")


def test_deleting_an_unknown_absence_or_another_doctor_s_is_404(world):
    other = Absence.objects.create(medecin=world.med2, debut=f.future(4), fin=f.future(5))
    client = f.client_for(world.admin1)
    with unchanged():
        for absence_id in (999999, other.pk, 2**63 - 1):
            assert_error(client.delete(absences_url(world.med1.pk, absence_id)), 404, "not_found")
        assert_error(client.delete(absences_url(world.med1.pk, 2**63)), 404, "not_found")


def test_absence_routes_refuse_other_methods(world):
    client = f.client_for(world.sa)
    assert_error(client.patch(hours_url(world.med1.pk), {}, format="json"), 405, "method_not_allowed")
    assert_error(client.put(absences_url(world.med1.pk), {}, format="json"), 405, "method_not_allowed")
    absence = Absence.objects.create(medecin=world.med1, debut=f.future(4), fin=f.future(5))
    assert_error(client.get(absences_url(world.med1.pk, absence.pk)), 405, "method_not_allowed")
