"""``manage.py broadcast``: a ``notification:general`` from a cron job or an operator.

Runs in its own process: the event is committed here and published on the channel
layer, so every daphne process delivers it to the sockets it holds.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from medical_booking.errors import DomainError
from realtime import catalogue, services
from rendezvous.models import Role, User


class Command(BaseCommand):
    help = "Broadcast notification:general to everyone, a role, a user or a practice."

    def add_arguments(self, parser):
        parser.add_argument("--message", required=True)
        parser.add_argument("--type", default="info", choices=catalogue.TYPES)
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--role", choices=Role.values)
        target.add_argument("--user", type=int, dest="user_id")
        target.add_argument("--cabinet", type=int, dest="cabinet_id")

    def handle(self, *args, message, type, role=None, user_id=None, cabinet_id=None, **options):
        acteur = User.objects.filter(role=Role.SUPERADMIN, is_active=True).order_by("pk").first()
        if acteur is None:
            raise CommandError("No active SUPERADMIN to broadcast as")
        try:
            event = services.broadcast(
                acteur=acteur, message=message, type=type, role=role,
                user_id=user_id, cabinet_id=cabinet_id,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(str(event.pk))
