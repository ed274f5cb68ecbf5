"""Cron entry point: ``manage.py generer_creneaux`` (safe beside the in-server scheduler)."""

import time

from django.core.management.base import BaseCommand, CommandError

from rendezvous.agenda import generer_creneaux
from rendezvous.models import Medecin

MAX_SEMAINES = 104


class Command(BaseCommand):
    help = ("Generate the free slots of doctors' weekly hours up to the horizon "
            "(idempotent; several runs at once create each slot once).")

    def add_arguments(self, parser):
        parser.add_argument("--medecin", type=int, help="only this doctor (their user id)")
        parser.add_argument("--semaines", type=int,
                            help="horizon in weeks (default: CRENEAUX_HORIZON_SEMAINES)")

    def handle(self, *args, medecin=None, semaines=None, **options):
        if semaines is not None and not 1 <= semaines <= MAX_SEMAINES:
            raise CommandError(f"--semaines must be between 1 and {MAX_SEMAINES}")
        target = None
        if medecin is not None:
            target = Medecin.objects.filter(pk=medecin).first() if 0 < medecin < 2**63 else None
            if target is None:
                raise CommandError(f"no doctor with id {medecin}")
        started = time.perf_counter()
        done = generer_creneaux(target, semaines)
        self.stdout.write(
            f"{done.crees} slot(s) created, {done.ignores} already taken by another writer, "
            f"{done.medecins} doctor(s) with hours, {time.perf_counter() - started:.2f} s"
        )
