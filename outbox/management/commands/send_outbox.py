"""Cron entry point: ``manage.py send_outbox`` (safe beside the in-server senders)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from outbox.services import envoyer_dus, purger


class Command(BaseCommand):
    help = "Send the due e-mails and SMS of the outbox (each one once; failures retried with backoff)."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO 8601 instant to use as 'now' (tests, drills)")

    def handle(self, *args, now=None, **options):
        instant = None
        if now:
            instant = parse_datetime(now)
            if instant is None or instant.tzinfo is None:
                raise CommandError("--now must be an ISO 8601 datetime with an offset")
        done = envoyer_dus(instant)
        self.stdout.write(f"{done.envoyes} sent, {done.reessais} to retry, {done.echecs} failed")
        purged = purger(instant)
        if purged:
            self.stdout.write(f"{purged} sent message(s) older than the retention deleted")
