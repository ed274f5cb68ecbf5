"""SPEC's demo data, idempotent: run it as often as you like."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from rendezvous.models import Cabinet, Creneau, Medecin, Role, User

PASSWORD = "demo1234"
USERS = [
    ("admin@demo.fr", "Admin", "Plateforme", Role.SUPERADMIN),
    ("secretariat@demo.fr", "Sophie", "Secrétariat", Role.ADMINCABINET),
    ("dr.martin@demo.fr", "Jean", "Martin", Role.MEDECIN),
    ("dr.bernard@demo.fr", "Claire", "Bernard", Role.MEDECIN),
    ("alice@demo.fr", "Alice", "Durand", Role.PATIENT),
    ("bob@demo.fr", "Bob", "Lefèvre", Role.PATIENT),
    ("chloe@demo.fr", "Chloé", "Moreau", Role.PATIENT),
]
SPECIALITES = {"dr.martin@demo.fr": "Médecine générale", "dr.bernard@demo.fr": "Pédiatrie"}
HOURS = [time(9, 0), time(9, 30), time(10, 0), time(10, 30), time(11, 0), time(11, 30),
         time(14, 0), time(14, 30), time(15, 0), time(15, 30), time(16, 0), time(16, 30)]


class Command(BaseCommand):
    help = "Load the demo practice, its staff, patients and two weeks of slots (idempotent)."

    def handle(self, *args, **options):
        # Passwords are hashed (PBKDF2, ~0.25 s each) before the write transaction: on
        # SQLite it holds the database's write lock, which a running server shares.
        existing = set(User.objects.filter(email__in=[u[0] for u in USERS]).values_list("email", flat=True))
        hashes = {email: make_password(PASSWORD) for email, *_ in USERS if email not in existing}
        with transaction.atomic():
            self.load(hashes)

    def load(self, hashes: dict[str, str]) -> None:
        cabinet, _ = Cabinet.objects.get_or_create(
            nom="Cabinet médical du Parc",
            defaults={"adresse": "12 rue du Parc", "ville": "Lyon", "code_postal": "69006",
                      "telephone": "04 78 00 00 00", "timezone": "Europe/Paris"},
        )
        users = {}
        for email, first, last, role in USERS:
            user = User.objects.filter(email=email).first()
            if user is None:
                cab = cabinet if role in (Role.MEDECIN, Role.ADMINCABINET) else None
                password_hash = hashes.get(email) or make_password(PASSWORD)  # deleted meanwhile
                user = User.objects.create_user_with_hash(
                    email, password_hash, first_name=first, last_name=last,
                    role=role, cabinet=cab, is_staff=role == Role.SUPERADMIN,
                    is_superuser=role == Role.SUPERADMIN,
                )
            users[email] = user
        created = 0
        tz = cabinet.tzinfo
        today = timezone.localdate(timezone=tz)
        now = timezone.now()
        for email, specialite in SPECIALITES.items():
            medecin, _ = Medecin.objects.get_or_create(
                user=users[email], defaults={"cabinet": cabinet, "specialite": specialite}
            )
            for day in range(1, 15):
                date = today + timedelta(days=day)
                if date.weekday() >= 5:
                    continue
                for h in HOURS:
                    debut = datetime.combine(date, h, tzinfo=tz)
                    if debut <= now:
                        continue
                    fin = debut + timedelta(minutes=30)
                    if Creneau.objects.filter(medecin=medecin, actif=True,
                                              debut__lt=fin, fin__gt=debut).exists():
                        continue
                    Creneau.objects.create(medecin=medecin, debut=debut, fin=fin)
                    created += 1
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: {len(users)} users, {created} new slots "
            f"(password for every account: {PASSWORD})"
        ))
