"""The outbox: rows written with the fact, sent after it by claim/lease, retried with
backoff against a real SMTP server (aiosmtpd) that refuses then accepts, ECHEC after the
last attempt, never doubled."""

from __future__ import annotations

from datetime import timedelta

import icalendar
import pytest
from django.db import transaction
from django.utils import timezone

from outbox import services as outbox
from outbox import sms
from outbox.models import Canal, Envoi, Preferences, StatutEnvoi
from realtime.models import Event
from rendezvous import services
from rendezvous.models import Role, User
from rendezvous.reminders import send_due_reminders

from . import factories as f
from .helpers import fast_hashers  # noqa: F401
from .smtp import ics_of, smtp_server, text_of


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a free port; the project's SMTP backend pointed at it."""
    with smtp_server() as (controller, handler):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = controller.hostname, controller.port
        settings.EMAIL_TIMEOUT = 5
        yield handler


@pytest.fixture
def sms_memoire(settings):
    settings.SMS_BACKEND = "outbox.sms.LocmemSmsBackend"
    sms.envoyes.clear()
    yield sms.envoyes
    sms.envoyes.clear()


@pytest.fixture
def booking(db):
    cab = f.cabinet(nom="Cabinet du Parc", adresse="3 rue des Lilas", code_postal="69003", ville="Lyon",
                    timezone="Europe/Paris")
    med = f.medecin(cab, last_name="Martin", first_name="Paul")
    pat = f.patient(first_name="Alice", email="alice@test.fr")
    slot = f.creneau(med, debut=f.future(48))
    return med, pat, slot


def rows(**kw) -> list[Envoi]:
    return list(Envoi.objects.filter(**kw).order_by("id"))


# --- writing -----------------------------------------------------------------------------------


def test_a_booking_writes_its_email_with_the_event(booking):
    med, pat, slot = booking
    rdv = services.book_creneau(patient=pat, creneau=slot, motif="toux")
    event = Event.objects.get(name="rendezvous:created", rooms__room=f"patient:{pat.pk}")
    [envoi] = rows()
    assert (envoi.canal, envoi.type, envoi.destinataire, envoi.statut) == (
        Canal.EMAIL, "rendezvous:created", "alice@test.fr", StatutEnvoi.A_ENVOYER)
    assert envoi.cle == f"rendezvous:created:{rdv.pk}:{event.pk}:EMAIL"
    assert envoi.user_id == pat.pk and envoi.rendezvous_id == rdv.pk
    # The practice's name and address, the time in its zone, in French.
    local = timezone.localtime(slot.debut, slot.medecin.cabinet.tzinfo)
    assert f"{local:%H}h{local:%M}" in envoi.texte and "Cabinet du Parc" in envoi.texte
    assert "3 rue des Lilas" in envoi.texte and "69003 Lyon" in envoi.texte and "Dr Paul Martin" in envoi.texte
    assert "Europe/Paris" in envoi.texte and "<table" in envoi.html
    cal = icalendar.Calendar.from_ical(envoi.piece_jointe)
    assert cal["METHOD"] == "REQUEST"
    [vevent] = cal.walk("VEVENT")
    assert str(vevent["UID"]).startswith(f"rendezvous-{rdv.pk}@")
    assert vevent.decoded("DTSTART") == slot.debut


def test_staff_events_write_nothing_and_a_rolled_back_fact_writes_nothing(booking):
    med, pat, slot = booking
    with pytest.raises(RuntimeError), transaction.atomic():
        services.book_creneau(patient=pat, creneau=slot)
        assert Envoi.objects.count() == 1  # written inside the transaction...
        raise RuntimeError
    assert Envoi.objects.count() == 0  # ...gone with it
    rdv = services.book_creneau(patient=pat, creneau=slot)
    # rendezvous:new goes to the doctor's room: no message to anyone but the patient.
    assert set(Envoi.objects.values_list("destinataire", flat=True)) == {"alice@test.fr"}
    assert Event.objects.filter(name="rendezvous:new").exists()
    services.confirm_rendezvous(acteur=med.user, rdv=rdv)
    services.cancel_rendezvous(acteur=pat, rdv=rdv)
    assert [e.type for e in rows()] == ["rendezvous:created", "rendezvous:confirmed", "rendezvous:cancelled"]
    cancel = rows(type="rendezvous:cancelled")[0]
    cal = icalendar.Calendar.from_ical(cancel.piece_jointe)
    assert cal["METHOD"] == "CANCEL" and cal.walk("VEVENT")[0]["STATUS"] == "CANCELLED"
    seqs = [icalendar.Calendar.from_ical(e.piece_jointe).walk("VEVENT")[0]["SEQUENCE"] for e in rows()]
    assert seqs == sorted(seqs)


def test_preferences_decide_the_channels(booking, sms_memoire):
    med, pat, slot = booking
    pat.telephone = "+33612345678"
    pat.save(update_fields=["telephone"])
    Preferences.objects.create(user=pat, email_confirmation=False, sms_confirmation=True)
    rdv = services.book_creneau(patient=pat, creneau=slot)
    assert [(e.canal, e.destinataire) for e in rows()] == [(Canal.SMS, "+33612345678")]
    services.confirm_rendezvous(acteur=med.user, rdv=rdv)
    # Reminders: e-mail and SMS by default (a mobile number is there).
    send_due_reminders(slot.debut - timedelta(hours=24))
    assert sorted(e.canal for e in rows(type="rappel:reminder")) == [Canal.EMAIL, Canal.SMS]


def test_no_sms_without_a_mobile_and_no_email_without_an_address(booking):
    med, pat, slot = booking
    pat.telephone = "+33145678901"  # a landline: no SMS
    pat.save(update_fields=["telephone"])
    rdv = services.book_creneau(patient=pat, creneau=slot)
    services.confirm_rendezvous(acteur=med.user, rdv=rdv)
    send_due_reminders(slot.debut - timedelta(hours=24))
    assert {e.canal for e in rows()} == {Canal.EMAIL}
    sans_email = User.objects.create(email=None, role=Role.PATIENT, first_name="Sans", last_name="Courriel")
    f.rendezvous(sans_email, f.creneau(med, debut=f.future(60)))  # booked by the practice
    assert not rows(user=sans_email)


def test_notifier_is_idempotent_by_key(booking):
    med, pat, slot = booking
    rdv = f.rendezvous(pat, slot)
    Envoi.objects.all().delete()
    first = outbox.notifier("rendezvous:confirmed", pat, rendezvous=rdv, cle="essai:1")
    again = outbox.notifier("rendezvous:confirmed", pat, rendezvous=rdv, cle="essai:1")
    assert len(first) == 1 and again == []
    assert Envoi.objects.filter(cle="essai:1:EMAIL").count() == 1
    assert outbox.envoyer_email(destinataire="x@test.fr", sujet="s", texte="t", type="password_reset",
                                cle="pr:1") is not None
    assert outbox.envoyer_email(destinataire="x@test.fr", sujet="s", texte="t", type="password_reset",
                                cle="pr:1") is None


# --- sending -----------------------------------------------------------------------------------


def test_refused_twice_then_accepted_with_backoff(booking, smtp, settings):
    settings.OUTBOX_BACKOFF_SECONDS, settings.OUTBOX_MAX_TENTATIVES = 30, 5
    med, pat, slot = booking
    services.book_creneau(patient=pat, creneau=slot)
    smtp.refuse = 2
    t0 = timezone.now()
    assert outbox.envoyer_dus(t0).reessais == 1
    [envoi] = rows()
    assert (envoi.tentatives, envoi.prochain_essai, envoi.statut) == (1, t0 + timedelta(seconds=30),
                                                                      StatutEnvoi.A_ENVOYER)
    assert "451" in envoi.derniere_erreur
    assert outbox.envoyer_dus(t0 + timedelta(seconds=29)).total == 0  # not before its time
    assert outbox.envoyer_dus(t0 + timedelta(seconds=30)).reessais == 1
    envoi.refresh_from_db()
    assert envoi.prochain_essai == t0 + timedelta(seconds=30 + 60)  # doubled
    assert outbox.envoyer_dus(t0 + timedelta(seconds=89)).total == 0
    assert outbox.envoyer_dus(t0 + timedelta(seconds=90)).envoyes == 1
    envoi.refresh_from_db()
    assert (envoi.statut, envoi.tentatives, envoi.derniere_erreur) == (StatutEnvoi.ENVOYE, 3, "")
    assert outbox.envoyer_dus(t0 + timedelta(days=1)).total == 0  # never again
    assert smtp.refused == 2
    [(rcpt, message)] = smtp.received
    assert rcpt == ["alice@test.fr"]
    assert message["Subject"] == "Votre rendez-vous est enregistré"
    assert message["X-Outbox-Cle"] == envoi.cle
    unsubscribe = str(message["List-Unsubscribe"]).strip()
    assert unsubscribe.startswith("<http") and "desabonnement" in unsubscribe
    assert "Cabinet du Parc" in text_of(message) and "<table" in text_of(message, "html")
    cal = icalendar.Calendar.from_ical(ics_of(message))
    assert cal["METHOD"] == "REQUEST"


def test_a_server_that_never_answers_ends_in_echec_then_renvoyer(booking, settings):
    from devtools.net import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # connection refused
    settings.OUTBOX_BACKOFF_SECONDS, settings.OUTBOX_MAX_TENTATIVES = 10, 3
    med, pat, slot = booking
    services.book_creneau(patient=pat, creneau=slot)
    t = timezone.now()
    results = []
    for _ in range(5):
        results.append(outbox.envoyer_dus(t))
        t += timedelta(hours=1)
    assert [(r.reessais, r.echecs) for r in results] == [(1, 0), (1, 0), (0, 1), (0, 0), (0, 0)]
    [envoi] = rows()
    assert (envoi.statut, envoi.tentatives) == (StatutEnvoi.ECHEC, 3)
    assert "ConnectionRefused" in envoi.derniere_erreur
    assert outbox.renvoyer([envoi]) == 1
    envoi.refresh_from_db()
    assert (envoi.statut, envoi.tentatives) == (StatutEnvoi.A_ENVOYER, 0)


def test_a_claimed_row_is_leased_and_comes_back_after_the_lease(booking, settings, smtp):
    settings.OUTBOX_LEASE_SECONDS = 300
    med, pat, slot = booking
    services.book_creneau(patient=pat, creneau=slot)
    t0 = timezone.now()
    claimed = outbox.reclamer(t0, 10)  # a sender that dies right after its claim
    assert len(claimed) == 1
    assert outbox.envoyer_dus(t0 + timedelta(seconds=299)).total == 0  # held by the dead sender
    assert outbox.envoyer_dus(t0 + timedelta(seconds=300)).envoyes == 1  # back after the lease
    assert len(smtp.received) == 1


def test_sms_are_sent_by_the_configured_backend_within_one_segment(booking, sms_memoire):
    from rendezvous.telephone import septets

    med, pat, slot = booking
    cab = slot.medecin.cabinet
    cab.nom = "Centre médical de la Croix-Rousse — Pôle santé « Les Hêtres » et maison de santé pluriprofessionnelle"
    cab.adresse = "125 boulevard de la Croix-Rousse, bâtiment C, 2e étage, porte gauche"
    cab.save()
    pat.telephone = "+33612345678"
    pat.save(update_fields=["telephone"])
    Preferences.objects.create(user=pat, sms_confirmation=True)
    services.book_creneau(patient=pat, creneau=slot)
    assert outbox.envoyer_dus().envoyes == 2
    [(numero, texte)] = sms_memoire
    assert numero == "+33612345678"
    assert septets(texte) is not None and septets(texte) <= 160, texte  # GSM-7, one segment
    local = timezone.localtime(slot.debut, cab.tzinfo)
    assert texte.startswith(f"RDV enregistre (a confirmer) le {local:%d/%m/%Y} a {local:%H}h{local:%M} avec Dr Martin")


def test_a_failing_sms_backend_is_retried(booking, settings):
    settings.SMS_BACKEND = "tests.test_outbox.FailingSms"
    med, pat, slot = booking
    pat.telephone = "06 12 34 56 78"  # typed before numbers were normalised: still reachable
    pat.save(update_fields=["telephone"])
    Preferences.objects.create(user=pat, email_confirmation=False, sms_confirmation=True)
    services.book_creneau(patient=pat, creneau=slot)
    passe = outbox.envoyer_dus()
    assert (passe.reessais, passe.erreurs) == (1, ["SmsError: fournisseur indisponible"])
    [envoi] = rows()
    assert envoi.destinataire == "+33612345678"


class FailingSms(sms.BaseSmsBackend):
    def send(self, numero, texte):
        raise sms.SmsError("fournisseur indisponible")


def test_send_outbox_command(booking, smtp, capsys):
    from django.core.management import call_command

    med, pat, slot = booking
    services.book_creneau(patient=pat, creneau=slot)
    call_command("send_outbox")
    assert "1 sent, 0 to retry, 0 failed" in capsys.readouterr().out
    assert len(smtp.received) == 1


# --- the admin ---------------------------------------------------------------------------------


def test_admin_lists_envois_by_practice_and_renvoyer_requeues_failures(booking, client):
    from audit.models import JournalAcces

    med, pat, slot = booking
    services.book_creneau(patient=pat, creneau=slot)
    other_med = f.medecin()
    services.book_creneau(patient=f.patient(email="ailleurs@test.fr"), creneau=f.creneau(other_med))
    Envoi.objects.update(statut=StatutEnvoi.ECHEC, tentatives=5, derniere_erreur="SMTPDataError: 451")
    url = "/admin/outbox/envoi/"

    client.force_login(f.superadmin(is_staff=True, is_superuser=True))
    page = client.get(url, {"statut": "ECHEC"}).content.decode()
    assert "alice@test.fr" in page and "ailleurs@test.fr" in page

    secretaire = f.admincabinet(slot.medecin.cabinet, is_staff=True)
    client.force_login(secretaire)
    page = client.get(url).content.decode()
    assert "alice@test.fr" in page and "ailleurs@test.fr" not in page  # their practice only
    assert JournalAcces.objects.filter(acteur=secretaire, patient_id=pat.pk).exists()  # access logged
    mine, theirs = rows(destinataire="alice@test.fr")[0], rows(destinataire="ailleurs@test.fr")[0]
    assert client.get(f"{url}{theirs.pk}/change/").status_code == 404
    client.post(url, {"action": "renvoyer", "_selected_action": [mine.pk, theirs.pk]})
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.statut, mine.tentatives) == (StatutEnvoi.A_ENVOYER, 0)
    assert theirs.statut == StatutEnvoi.ECHEC  # outside their practice: untouched

    client.force_login(f.medecin(slot.medecin.cabinet, is_staff=True).user)
    assert client.get(url).status_code == 403


def test_rows_come_back_saved_and_a_key_written_concurrently_is_skipped(booking):
    med, pat, slot = booking
    rdv = f.rendezvous(pat, slot)
    [row] = outbox.notifier("rendezvous:confirmed", pat, rendezvous=rdv, cle="k:1")
    assert row.pk is not None and Envoi.objects.get(pk=row.pk).cle == "k:1:EMAIL"
    # Another transaction wrote "k:2:EMAIL" between this one's check and its insert.
    original = Envoi.objects.filter

    def filter_missing_k2(*args, **kwargs):
        qs = original(*args, **kwargs)
        return qs.exclude(cle="k:2:EMAIL") if "cle__in" in kwargs else qs

    Envoi.objects.create(canal=Canal.EMAIL, destinataire="x@test.fr", texte="t", type="t", cle="k:2:EMAIL")
    import unittest.mock

    with transaction.atomic(), unittest.mock.patch.object(Envoi.objects, "filter", filter_missing_k2):
        assert outbox.notifier("rendezvous:confirmed", pat, rendezvous=rdv, cle="k:2") == []
        assert Envoi.objects.count() >= 2  # the caller's transaction is still usable
    sent_now = outbox.envoyer_maintenant(None)
    assert sent_now is False


def test_a_password_reset_mail_is_retried_by_the_outbox_and_erased_once_sent(
        booking, smtp, django_capture_on_commit_callbacks):
    med, pat, slot = booking
    smtp.refuse = 1
    with django_capture_on_commit_callbacks(execute=True):
        r = f.client_for().post("/api/auth/password-reset/", {"email": pat.email}, format="json")
    assert r.status_code == 202
    [envoi] = rows(type="password_reset")
    assert (envoi.statut, envoi.tentatives, smtp.refused) == (StatutEnvoi.A_ENVOYER, 1, 1)  # tried at once
    assert "/reinitialiser?uid=" in envoi.texte
    assert outbox.envoyer_dus(timezone.now() + timedelta(minutes=1)).envoyes == 1
    [(rcpt, message)] = smtp.received
    assert rcpt == [pat.email] and "/reinitialiser?uid=" in text_of(message)
    envoi.refresh_from_db()
    assert envoi.statut == StatutEnvoi.ENVOYE and "reinitialiser" not in envoi.texte  # the link is not kept


def test_a_booking_made_by_the_practice_is_announced_as_confirmed(booking):
    med, pat, slot = booking
    desk = f.client_for(f.admincabinet(slot.medecin.cabinet))
    r = desk.post("/api/patients/", {"first_name": "Jeanne", "last_name": "Durand", "email": "jeanne@test.fr",
                                     "telephone": "06 12 34 56 78"},
                  format="json")
    assert r.status_code == 201, r.content
    r = desk.post("/api/rendezvous/", {"creneau": slot.pk, "patient": r.json()["id"]}, format="json")
    assert r.status_code == 201, r.content
    [envoi] = rows()
    assert envoi.destinataire == "jeanne@test.fr"
    assert (envoi.type, envoi.sujet) == ("rendezvous:created", "Votre rendez-vous est confirmé")
    assert "doit encore le confirmer" not in envoi.texte


def test_console_and_file_sms_backends(tmp_path, settings):
    import io

    stream = io.StringIO()
    sms.ConsoleSmsBackend(stream).send("+33612345678", "Rappel RDV")
    assert "+33612345678" in stream.getvalue() and "Rappel RDV" in stream.getvalue()
    settings.SMS_BACKEND, settings.SMS_FILE_PATH = "outbox.sms.FileSmsBackend", str(tmp_path / "sms")
    sms.get_backend().send("+33612345678", "Rappel RDV")
    [written] = (tmp_path / "sms").iterdir()
    assert written.read_text(encoding="utf-8").startswith("To: +33612345678\n")


def test_a_slow_sender_gives_back_what_its_lease_no_longer_covers(booking, smtp, settings, monkeypatch):
    settings.OUTBOX_LEASE_SECONDS, settings.EMAIL_TIMEOUT = 300, 30
    med, pat, slot = booking
    for i in range(3):
        outbox.envoyer_email(destinataire=f"p{i}@test.fr", sujet="s", texte="t", type="essai", cle=f"lent:{i}")
    clock = iter([0.0, 0.0, 100.0, 266.0])  # claim, 1st send, 2nd send, 3rd: 34 s left < 30 + 5
    monkeypatch.setattr(outbox, "horloge", lambda: next(clock))
    passe = outbox.envoyer_lot()
    assert passe.envoyes == 2 and len(smtp.received) == 2
    [rest] = rows(statut=StatutEnvoi.A_ENVOYER)
    assert rest.prochain_essai <= timezone.now() and rest.tentatives == 0  # due again for anyone


def test_a_move_mails_the_new_time_and_updates_the_same_calendar_entry(booking):
    med, pat, slot = booking
    rdv = services.book_creneau(patient=pat, creneau=slot)
    services.confirm_rendezvous(acteur=med.user, rdv=rdv)
    nouveau = f.creneau(med, debut=f.future(72))
    services.move_rendezvous(acteur=med.user, rdv=rdv, creneau=nouveau)
    [moved] = rows(type="rendezvous:moved")
    [confirmed] = rows(type="rendezvous:confirmed")
    assert moved.sujet == "Votre rendez-vous a été déplacé" and moved.destinataire == "alice@test.fr"
    tz = slot.medecin.cabinet.tzinfo
    old, new = timezone.localtime(slot.debut, tz), timezone.localtime(nouveau.debut, tz)
    assert "Ancien horaire : " in moved.texte and f"{old:%H}h{old:%M}" in moved.texte
    assert f"{new:%H}h{new:%M}" in moved.texte
    before = icalendar.Calendar.from_ical(confirmed.piece_jointe).walk("VEVENT")[0]
    cal = icalendar.Calendar.from_ical(moved.piece_jointe)
    after = cal.walk("VEVENT")[0]
    assert cal["METHOD"] == "REQUEST"
    assert after["UID"] == before["UID"] and after["SEQUENCE"] > before["SEQUENCE"]
    assert after.decoded("DTSTART") == nouveau.debut


def test_sent_rows_are_purged_after_the_retention(booking, settings, smtp, capsys):
    from django.core.management import call_command

    settings.OUTBOX_RETENTION_DAYS = 90
    med, pat, slot = booking
    services.book_creneau(patient=pat, creneau=slot)
    outbox.envoyer_email(destinataire="x@test.fr", sujet="s", texte="t", type="essai", cle="reste:1")
    t0 = timezone.now()
    assert outbox.envoyer_dus(t0).envoyes == 2
    Envoi.objects.filter(cle="reste:1").update(statut=StatutEnvoi.ECHEC, envoye_at=None)  # failed: kept
    assert outbox.purger(t0 + timedelta(days=89)) == 0
    call_command("send_outbox", "--now", (t0 + timedelta(days=91)).isoformat())
    assert "1 sent message(s) older than the retention deleted" in capsys.readouterr().out
    assert list(Envoi.objects.values_list("cle", flat=True)) == ["reste:1"]
    settings.OUTBOX_RETENTION_DAYS = 0
    assert outbox.purger(t0 + timedelta(days=10_000)) == 0
