"""Cron entry point: ``manage.py send_reminders`` (safe beside the in-server scheduler)."""

from medical_booking.cron import CronCommand
from rendezvous.reminders import send_due_reminders


class Command(CronCommand):
    help = "Send the rappel:reminder notifications that are due (each one once, ever)."

    def run(self, now):
        sent = send_due_reminders(now)
        self.stdout.write(f"{sent} reminder(s) sent")
