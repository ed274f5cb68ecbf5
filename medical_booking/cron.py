"""The shared shape of the cron entry points (``send_reminders``, ``send_outbox``...)."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime


class CronCommand(BaseCommand):
    """A command safe beside the in-server scheduler, with ``--now`` for tests and drills."""

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO 8601 instant to use as 'now' (tests, catch-up drills)")

    def handle(self, *args, now: str | None = None, **options):
        self.run(self.instant(now))

    @staticmethod
    def instant(now: str | None) -> datetime | None:
        if not now:
            return None
        instant = parse_datetime(now)
        if instant is None or instant.tzinfo is None:
            raise CommandError("--now must be an ISO 8601 datetime with an offset")
        return instant

    def run(self, now: datetime | None) -> None:
        raise NotImplementedError
