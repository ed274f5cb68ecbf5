"""Phone numbers at input, preferences, the unsubscribe link, the ``.ics`` of a booking and
the calendar subscription URLs (parsed back with ``icalendar``)."""

from __future__ import annotations

import time

import icalendar
import pytest
from django.core import signing
from django.utils import timezone

from outbox import contenu
from outbox.models import Envoi, JetonCalendrier, Preferences
from rendezvous import calendrier, services
from rendezvous.models import User
from rendezvous.telephone import septets, un_segment, vers_gsm7
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures


def ics(response) -> icalendar.Calendar:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/calendar"), response["Content-Type"]
    return icalendar.Calendar.from_ical(response.content)


# --- phone numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(("typed", "stored"), [
    ("06 12 34 56 78", "+33612345678"), ("+33 6 12 34 56 78", "+33612345678"),
    ("+1 415-555-2671", "+14155552671"), ("", ""),
])
def test_me_phone_is_stored_in_e164(world, typed, stored):
    r = f.client_for(world.p1).patch("/api/me/", {"telephone": typed}, format="json")
    assert r.status_code == 200 and body(r)["telephone"] == stored
    world.p1.refresh_from_db()
    assert world.p1.telephone == stored


@pytest.mark.parametrize("typed", ["abc", "06 12", "+33 6 12 34 56 78 90 12", "0000000000", "+999 123"])
def test_an_invalid_phone_is_a_400_and_changes_nothing(world, typed):
    with unchanged():
        data = assert_error(f.client_for(world.p1).patch("/api/me/", {"telephone": typed}, format="json"),
                            400, "telephone_invalide")
    assert "telephone" in data["details"]
    with unchanged():
        assert_error(f.client_for().post("/api/auth/register/", {
            "email": "nouveau@test.fr", "password": "Un-bon-mot-de-passe", "telephone": typed}, format="json"),
            400, "telephone_invalide")
    assert not User.objects.filter(email="nouveau@test.fr").exists()


def test_register_normalises_the_phone(db):
    r = f.client_for().post("/api/auth/register/", {
        "email": "nina@test.fr", "password": "Un-bon-mot-de-passe", "telephone": "07.52.34.56.78"}, format="json")
    assert r.status_code == 201 and body(r)["telephone"] == "+33752345678"


def test_sms_texts_stay_in_gsm7_and_one_segment():
    assert vers_gsm7("Hôpital Saint-Étienne — Françoise’s « test »") == "Hopital Saint-Étienne - Francoise's \" test \""
    assert septets("é à €") == 6 and septets("ê") is None
    long = un_segment("RDV confirme le 01/01/2030 a 10h00 avec Dr Martin,", "Cabinet " + "ô" * 200, "Lyon")
    assert long == vers_gsm7("RDV confirme le 01/01/2030 a 10h00 avec Dr Martin,")  # the rest dropped
    cut = un_segment("x" * 300)
    assert septets(cut) == 160 and cut.endswith("...")


# --- preferences ------------------------------------------------------------------------------


def test_preferences_defaults_then_patch(world):
    client = f.client_for(world.p1)
    data = body(client.get("/api/me/preferences/"))
    assert data == {
        "confirmation": {"email": True, "sms": False}, "modification": {"email": True, "sms": False},
        "annulation": {"email": True, "sms": False}, "rappel": {"email": True, "sms": True},
        "sms_possible": False,
    }
    r = client.patch("/api/me/preferences/", {"rappel": {"sms": False}, "annulation": {"email": False}},
                     format="json")
    assert r.status_code == 200
    assert body(r)["rappel"] == {"email": True, "sms": False} and body(r)["annulation"]["email"] is False
    prefs = Preferences.objects.get(user=world.p1)
    assert (prefs.sms_rappel, prefs.email_annulation, prefs.email_confirmation) == (False, False, True)
    world.p1.telephone = "+33612345678"
    world.p1.save(update_fields=["telephone"])
    assert body(client.get("/api/me/preferences/"))["sms_possible"] is True


@pytest.mark.parametrize("payload", [
    {"rappel": {"sms": "yes"}}, {"rappel": {"sms": 1}}, {"rappel": {"pigeon": True}}, {"rapel": {"sms": False}},
    {"rappel": True}, ["rappel"],
])
def test_bad_preferences_are_a_400_and_change_nothing(world, payload):
    before = list(Preferences.objects.values())
    assert_error(f.client_for(world.p1).patch("/api/me/preferences/", payload, format="json"), 400,
                 "validation_error")
    assert list(Preferences.objects.values()) == before


def test_preferences_need_a_login(db):
    assert_error(f.client_for().get("/api/me/preferences/"), 401)
    assert_error(f.client_for().get("/api/me/calendrier/"), 401)


# --- unsubscribe ------------------------------------------------------------------------------


def test_the_link_in_an_email_unsubscribes_without_login(world):
    services.confirm_rendezvous(acteur=world.med1.user, rdv=world.rdv1)
    envoi = Envoi.objects.get(type="rendezvous:confirmed", user=world.p1)
    link = next(w for w in envoi.texte.split() if "desabonnement" in w)
    path = link.split("localhost:3000", 1)[1]
    r = f.client_for().get(path)
    assert r.status_code == 200 and r["Content-Type"].startswith("text/html")
    assert "Désabonnement enregistré" in r.content.decode() and "confirmation" in r.content.decode()
    prefs = Preferences.objects.get(user=world.p1)
    assert prefs.email_confirmation is False and prefs.email_rappel is True  # that kind only
    # The next confirmation-kind message to this patient goes by no channel.
    rdv = services.book_creneau(patient=world.p1, creneau=world.slot2)
    assert not Envoi.objects.filter(rendezvous=rdv).exists()


def test_bad_or_expired_unsubscribe_tokens_are_400s(world, monkeypatch):
    token = contenu.jeton_desabonnement(world.p1, "rappel")
    with unchanged():
        for bad in ["", "abc", token[:-2] + "xx", signing.dumps({"u": world.p1.pk, "g": "rappel"}, salt="autre"),
                    signing.dumps({"u": world.p1.pk, "g": "pigeon"}, salt=contenu.SALT_DESABONNEMENT),
                    signing.dumps({"u": 10**12, "g": "rappel"}, salt=contenu.SALT_DESABONNEMENT)]:
            assert_error(f.client_for().get("/api/preferences/desabonnement/", {"token": bad}), 400,
                         "jeton_invalide")
        later = time.time() + 400 * 86400
        monkeypatch.setattr(signing.time, "time", lambda: later)
        assert_error(f.client_for().get("/api/preferences/desabonnement/", {"token": token}), 400, "jeton_expire")
    assert not Preferences.objects.exists()


# --- one booking's .ics -----------------------------------------------------------------------


def test_a_booking_ics_for_whoever_may_see_it(world):
    cal = ics(f.client_for(world.p1).get(f"/api/rendezvous/{world.rdv1.pk}/ics/"))
    assert cal["METHOD"] == "REQUEST"
    [event] = cal.walk("VEVENT")
    assert event["UID"] == calendrier.uid(world.rdv1)
    assert event.decoded("DTSTART") == world.slot1.debut and event.decoded("DTEND") == world.slot1.fin
    assert str(event.decoded("DTSTART").tzinfo) == "Europe/Paris"  # the practice's zone, with its VTIMEZONE
    assert cal.walk("VTIMEZONE")
    assert "Martin" in str(event["SUMMARY"]) and "Cabinet du Parc" in str(event["LOCATION"])
    staff = ics(f.client_for(world.med1.user).get(f"/api/rendezvous/{world.rdv1.pk}/ics/"))
    assert str(world.p1) in str(staff.walk("VEVENT")[0]["SUMMARY"])  # the doctor sees the patient
    assert ics(f.client_for(world.admin1).get(f"/api/rendezvous/{world.rdv1.pk}/ics/"))
    # A client asking for text/calendar gets it; its errors are JSON all the same.
    assert ics(f.client_for(world.p1).get(f"/api/rendezvous/{world.rdv1.pk}/ics/", HTTP_ACCEPT="text/calendar"))
    assert_error(f.client_for(world.p2).get(f"/api/rendezvous/{world.rdv1.pk}/ics/", HTTP_ACCEPT="text/calendar"),
                 404, "not_found")


def test_a_foreign_or_unknown_booking_ics_is_a_404(world):
    for who in (world.p2, world.med3.user, world.admin2):
        assert_error(f.client_for(who).get(f"/api/rendezvous/{world.rdv1.pk}/ics/"), 404, "not_found")
    assert_error(f.client_for(world.p1).get("/api/rendezvous/999999/ics/"), 404, "not_found")
    assert_error(f.client_for().get(f"/api/rendezvous/{world.rdv1.pk}/ics/"), 401)


def test_a_move_updates_the_same_entry_and_a_cancel_removes_it(world):
    before = icalendar.Calendar.from_ical(calendrier.ics_rendezvous(world.rdv1)).walk("VEVENT")[0]
    rdv = world.rdv1
    rdv.ancien_creneau, rdv.creneau = rdv.creneau, f.creneau(world.med1, debut=f.future(72))
    rdv.deplace_at = timezone.now()
    rdv.save()  # a move (what move_rendezvous writes), within the same second
    after = icalendar.Calendar.from_ical(calendrier.ics_rendezvous(rdv)).walk("VEVENT")[0]
    assert after["UID"] == before["UID"] and after["SEQUENCE"] > before["SEQUENCE"]
    assert after.decoded("DTSTART") == rdv.creneau.debut != before.decoded("DTSTART")
    services.cancel_rendezvous(acteur=world.p1, rdv=rdv)
    rdv.refresh_from_db()
    cancel = icalendar.Calendar.from_ical(calendrier.ics_rendezvous(rdv))
    assert cancel["METHOD"] == "CANCEL"
    event = cancel.walk("VEVENT")[0]
    assert event["UID"] == before["UID"] and event["SEQUENCE"] > after["SEQUENCE"]
    assert event["STATUS"] == "CANCELLED"


# --- subscription URLs ------------------------------------------------------------------------


def feed_path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def test_a_patient_subscribes_rotates_and_revokes(world):
    client = f.client_for(world.p1)
    assert body(client.get("/api/me/calendrier/")) == {"url": None}
    r = client.post("/api/me/calendrier/")
    assert r.status_code == 201
    url = body(r)["url"]
    assert url.startswith("http://testserver/calendrier/") and url.endswith(".ics")
    assert body(client.get("/api/me/calendrier/")) == {"url": url}
    other = f.rendezvous(world.p1, world.slot4)
    cal = ics(f.client_for().get(feed_path(url)))  # no login
    assert {str(e["UID"]) for e in cal.walk("VEVENT")} == {calendrier.uid(world.rdv1), calendrier.uid(other)}
    assert world.rdv3.pk not in [int(str(e["UID"]).split("-")[1].split("@")[0]) for e in cal.walk("VEVENT")]
    rotated = body(client.post("/api/me/calendrier/"))["url"]
    assert rotated != url
    assert_error(f.client_for().get(feed_path(url)), 404, "not_found")  # the old URL is dead
    assert ics(f.client_for().get(feed_path(rotated)))
    assert client.delete("/api/me/calendrier/").status_code == 204
    assert_error(f.client_for().get(feed_path(rotated)), 404, "not_found")
    assert not JetonCalendrier.objects.exists()


def test_a_doctor_s_feed_is_their_agenda(world):
    url = body(f.client_for(world.med1.user).post("/api/me/calendrier/"))["url"]
    cal = ics(f.client_for().get(feed_path(url)))
    uids = {str(e["UID"]) for e in cal.walk("VEVENT")}
    assert uids == {calendrier.uid(world.rdv1)}  # med1's bookings only
    assert str(world.p1) in str(cal.walk("VEVENT")[0]["SUMMARY"])
    assert "Martin" in str(cal["X-WR-CALNAME"])


def test_only_patients_and_doctors_subscribe_and_unknown_tokens_are_404(world):
    for who in (world.admin1, world.sa):
        with unchanged():
            assert_error(f.client_for(who).post("/api/me/calendrier/"), 400, "role_interdit")
    assert_error(f.client_for().get("/calendrier/" + "a" * 43 + ".ics"), 404, "not_found")
    assert_error(f.client_for().get("/calendrier/court.ics"), 404, "not_found")
    url = body(f.client_for(world.p1).post("/api/me/calendrier/"))["url"]
    world.p1.is_active = False
    world.p1.save()
    assert_error(f.client_for().get(feed_path(url)), 404, "not_found")


def test_new_endpoints_are_in_the_schema(world):
    schema = f.client_for().get("/api/schema/?format=json")
    paths = body(schema)["paths"] if schema["Content-Type"].startswith("application/json") else None
    if paths is None:
        import yaml  # pragma: no cover

        paths = yaml.safe_load(schema.content)["paths"]
    for path, methods in {"/api/me/preferences/": {"get", "patch"}, "/api/me/calendrier/": {"get", "post", "delete"},
                          "/api/preferences/desabonnement/": {"get"},
                          "/api/rendezvous/{id}/ics/": {"get"}}.items():
        assert methods <= set(paths[path]), (path, set(paths[path]))
    assert "404" in paths["/api/rendezvous/{id}/ics/"]["get"]["responses"]
    assert "400" in paths["/api/preferences/desabonnement/"]["get"]["responses"]


def test_frontend_url_starts_links_and_feeds(world, settings):
    settings.FRONTEND_URL = "https://rdv.example.fr/"
    url = body(f.client_for(world.p1).post("/api/me/calendrier/"))["url"]
    assert url.startswith("https://rdv.example.fr/calendrier/")
    services.confirm_rendezvous(acteur=world.med1.user, rdv=world.rdv1)
    envoi = Envoi.objects.get(type="rendezvous:confirmed")
    assert "https://rdv.example.fr/api/preferences/desabonnement/?token=" in envoi.texte
    assert 'href="https://rdv.example.fr/api/preferences/desabonnement/?token=' in envoi.html
