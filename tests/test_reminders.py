"""Reminders: a clock we control, cancellation, restart catch-up, racing senders."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from realtime.models import Event
from rendezvous import services
from rendezvous.models import Rappel, RendezVous
from rendezvous.reminders import send_due_reminders

from . import factories as f


@pytest.fixture
def confirmed(db):
    med = f.medecin()
    pat = f.patient()
    slot = f.creneau(med, debut=f.future(48))
    rdv = services.book_creneau(patient=pat, creneau=slot, motif="contrôle")
    services.confirm_rendezvous(acteur=med.user, rdv=rdv)
    rdv.refresh_from_db()
    return rdv


def reminders_for(rdv) -> list[Event]:
    return list(
        Event.objects.filter(name="rappel:reminder", rooms__room=f"patient:{rdv.patient_id}").order_by("id")
    )


def test_24h_then_1h_each_once(confirmed):
    debut = confirmed.creneau.debut
    assert send_due_reminders(debut - timedelta(hours=25)) == 0
    assert send_due_reminders(debut - timedelta(hours=24)) == 1
    assert send_due_reminders(debut - timedelta(hours=23)) == 0  # not twice
    assert send_due_reminders(debut - timedelta(minutes=61)) == 0
    assert send_due_reminders(debut - timedelta(minutes=60)) == 1
    assert send_due_reminders(debut - timedelta(minutes=5)) == 0
    events = reminders_for(confirmed)
    assert [e.data["rappel_minutes"] for e in events] == [1440, 60]
    assert all(e.type == "info" and e.notify for e in events)
    assert events[0].message.startswith("Rappel : rendez-vous le ")
    assert events[0].data["id"] == confirmed.pk
    # Only the patient's personal room: never a role-wide room.
    assert list(events[0].rooms.values_list("room", flat=True)) == [f"patient:{confirmed.patient_id}"]
    assert Rappel.objects.filter(rendezvous=confirmed).count() == 2


def test_pending_booking_gets_no_reminder(db):
    med, pat = f.medecin(), f.patient()
    rdv = services.book_creneau(patient=pat, creneau=f.creneau(med, debut=f.future(30)))
    assert send_due_reminders(rdv.creneau.debut - timedelta(hours=1)) == 0
    assert reminders_for(rdv) == []


def test_cancelled_booking_gets_no_reminder(confirmed):
    services.cancel_rendezvous(acteur=confirmed.patient, rdv=confirmed, motif="empêché")
    assert send_due_reminders(confirmed.creneau.debut - timedelta(hours=1)) == 0
    assert reminders_for(confirmed) == []


def test_past_booking_gets_no_reminder(confirmed):
    assert send_due_reminders(confirmed.creneau.debut + timedelta(minutes=1)) == 0
    assert reminders_for(confirmed) == []


def test_catch_up_after_downtime_sends_the_nearest_only(confirmed):
    """Down from 25 h before to 30 min before: the 1 h reminder goes, the 24 h one is skipped."""
    debut = confirmed.creneau.debut
    assert send_due_reminders(debut - timedelta(minutes=30)) == 1
    assert [e.data["rappel_minutes"] for e in reminders_for(confirmed)] == [60]
    statuts = dict(Rappel.objects.filter(rendezvous=confirmed).values_list("offset_minutes", "statut"))
    assert statuts == {1440: "IGNORE", 60: "ENVOYE"}
    assert send_due_reminders(debut - timedelta(minutes=10)) == 0


def test_catch_up_of_a_single_missed_reminder(confirmed):
    """The 24 h point passed while down; 20 h before, it is still sent."""
    assert send_due_reminders(confirmed.creneau.debut - timedelta(hours=20)) == 1
    assert [e.data["rappel_minutes"] for e in reminders_for(confirmed)] == [1440]


def test_offsets_configurable_per_practice(db):
    cab = f.cabinet(rappel_offsets=[180])
    med, pat = f.medecin(cab=cab), f.patient()
    rdv = services.book_creneau(patient=pat, creneau=f.creneau(med, debut=f.future(10)))
    services.confirm_rendezvous(acteur=med.user, rdv=rdv)
    debut = rdv.creneau.debut
    assert send_due_reminders(debut - timedelta(hours=4)) == 0
    assert send_due_reminders(debut - timedelta(hours=3)) == 1
    assert send_due_reminders(debut - timedelta(hours=1)) == 0
    assert [e.data["rappel_minutes"] for e in reminders_for(rdv)] == [180]


def test_bad_offsets_are_ignored(db):
    cab = f.cabinet(rappel_offsets=["x", -5, None, 60])
    med, pat = f.medecin(cab=cab), f.patient()
    rdv = services.book_creneau(patient=pat, creneau=f.creneau(med, debut=f.future(5)))
    services.confirm_rendezvous(acteur=med.user, rdv=rdv)
    assert send_due_reminders(rdv.creneau.debut - timedelta(minutes=60)) == 1


def test_command_with_controlled_clock(confirmed, capsys):
    at = (confirmed.creneau.debut - timedelta(hours=24)).isoformat()
    call_command("send_reminders", "--now", at)
    call_command("send_reminders", "--now", at)
    out = capsys.readouterr().out
    assert "1 reminder(s) sent" in out and "0 reminder(s) sent" in out
    assert len(reminders_for(confirmed)) == 1


def test_command_rejects_a_naive_clock(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("send_reminders", "--now", "2030-01-01T10:00:00")
    with pytest.raises(CommandError):
        call_command("send_reminders", "--now", "demain")


@pytest.mark.django_db(transaction=True)
def test_racing_senders_send_once_on_postgres(requires_postgres):
    """Eight threads, each its own connection, race on the same due reminders."""
    med, pats = f.medecin(), [f.patient() for _ in range(3)]
    rdvs = []
    for i, pat in enumerate(pats):
        rdv = services.book_creneau(patient=pat, creneau=f.creneau(med, debut=f.future(30 + i)))
        services.confirm_rendezvous(acteur=med.user, rdv=rdv)
        rdvs.append(rdv)
    at = max(r.creneau.debut for r in rdvs) - timedelta(hours=24)
    barrier = threading.Barrier(8)
    results: list[int] = []

    def run():
        try:
            barrier.wait()
            results.append(send_due_reminders(at))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(results) == 3
    for rdv in rdvs:
        assert len(reminders_for(rdv)) == 1


# --- a moved booking: the reminders follow it ----------------------------------------------


def test_after_a_move_the_new_times_reminders_are_sent_once_and_the_old_ones_never(confirmed):
    old = confirmed.creneau
    new = f.creneau(old.medecin, debut=old.debut + timedelta(hours=5))
    assert send_due_reminders(old.debut - timedelta(hours=24)) == 1  # the 24 h one, for the old time
    moved = services.move_rendezvous(acteur=confirmed.patient, rdv=confirmed, creneau=new)
    assert moved.statut == "CONFIRME"
    assert send_due_reminders(old.debut - timedelta(hours=23)) == 0  # the new time is 28 h away
    # The new time gets its own 24 h and 1 h reminders, each once.
    assert send_due_reminders(new.debut - timedelta(hours=24)) == 1
    assert send_due_reminders(new.debut - timedelta(hours=23)) == 0
    # The old time's 1 h point: nothing (the booking is 6 h away from it now).
    assert send_due_reminders(old.debut - timedelta(hours=1)) == 0
    assert send_due_reminders(new.debut - timedelta(hours=1)) == 1
    assert send_due_reminders(new.debut - timedelta(minutes=30)) == 0
    events = reminders_for(confirmed)
    assert [(e.data["rappel_minutes"], e.data["creneau"]["id"]) for e in events] == [
        (1440, old.pk), (1440, new.pk), (60, new.pk)]
    local = timezone.localtime(new.debut, new.medecin.cabinet.tzinfo)
    assert f"à {local:%H:%M}" in events[-1].message
    assert sorted(Rappel.objects.filter(rendezvous=confirmed).values_list("offset_minutes", "debut")) == sorted([
        (1440, old.debut), (1440, new.debut), (60, new.debut)])


def test_a_booking_moved_earlier_gets_the_nearest_reminder_of_its_new_time(confirmed):
    old = confirmed.creneau
    new = f.creneau(old.medecin, debut=old.debut - timedelta(hours=30))  # 18 h ahead
    services.move_rendezvous(acteur=old.medecin.user, rdv=confirmed, creneau=new)
    # 17 h before the new time: its 24 h point has passed; sent once (catch-up), not twice.
    assert send_due_reminders(new.debut - timedelta(hours=17)) == 1
    assert send_due_reminders(new.debut - timedelta(hours=16)) == 0
    assert send_due_reminders(old.debut - timedelta(hours=24)) == 0  # the old time is gone
    assert [(e.data["rappel_minutes"], e.data["creneau"]["id"]) for e in reminders_for(confirmed)] == [
        (1440, new.pk)]


@pytest.mark.django_db(transaction=True)
def test_a_sender_racing_a_move_never_reminds_of_the_old_time_on_postgres(requires_postgres):
    """The move holds the booking's row; a sender that read the old time waits for it,
    then finds the booking moved and sends nothing for the old time."""
    med, pat = f.medecin(), f.patient()
    rdv = services.book_creneau(patient=pat, creneau=f.creneau(med, debut=f.future(30)))
    services.confirm_rendezvous(acteur=med.user, rdv=rdv)
    old = rdv.creneau
    new = f.creneau(med, debut=old.debut + timedelta(days=3))  # not due at the sender's clock
    moved, release = threading.Event(), threading.Event()
    sent: list[int] = []

    def mover():
        try:
            with transaction.atomic():
                services.move_rendezvous(acteur=med.user, rdv=RendezVous.objects.get(pk=rdv.pk), creneau=new)
                moved.set()
                release.wait(30)
        finally:
            connection.close()

    def sender():
        try:
            sent.append(send_due_reminders(old.debut - timedelta(hours=24)))
        finally:
            connection.close()

    t_move = threading.Thread(target=mover)
    t_move.start()
    assert moved.wait(30)
    t_send = threading.Thread(target=sender)
    t_send.start()
    t_send.join(1.0)
    blocked = t_send.is_alive()
    release.set()
    t_move.join(30)
    t_send.join(30)
    assert blocked, "the sender did not wait for the move's lock"
    assert sent == [0]
    assert not Rappel.objects.filter(rendezvous_id=rdv.pk).exists()
    assert reminders_for(rdv) == []
