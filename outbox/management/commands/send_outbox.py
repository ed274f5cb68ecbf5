"""Cron entry point: ``manage.py send_outbox`` (safe beside the in-server senders)."""

from medical_booking.cron import CronCommand
from outbox.services import envoyer_dus, purger


class Command(CronCommand):
    help = "Send the due e-mails and SMS of the outbox (each one once; failures retried with backoff)."

    def run(self, now):
        done = envoyer_dus(now)
        self.stdout.write(f"{done.envoyes} sent, {done.reessais} to retry, {done.echecs} failed")
        purged = purger(now)
        if purged:
            self.stdout.write(f"{purged} sent message(s) older than the retention deleted")
