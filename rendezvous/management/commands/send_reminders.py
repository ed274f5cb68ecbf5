"""Cron entry point: ``manage.py send_reminders`` (safe beside the in-server scheduler)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from rendezvous.reminders import send_due_reminders


class Command(BaseCommand):
    help = "Send the rappel:reminder notifications that are due (each one once, ever)."

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO 8601 instant to use as 'now' (tests, catch-up drills)")

    def handle(self, *args, now=None, **options):
        instant = None
        if now:
            instant = parse_datetime(now)
            if instant is None or instant.tzinfo is None:
                raise CommandError("--now must be an ISO 8601 datetime with an offset")
        sent = send_due_reminders(instant)
        self.stdout.write(f"{sent} reminder(s) sent")
