"""SPEC's demo data, idempotent: run it as often as you like."""

from __future__ import annotations

from datetime import time

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand
from django.db import transaction

from rendezvous.agenda import generer_creneaux
from rendezvous.models import Cabinet, Horaire, Medecin, Motif, Role, User

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
# Weekly hours (jour 0 = lundi, wall-clock in the practice's zone, slot length in minutes);
# the slots are generated from them over the horizon (CRENEAUX_HORIZON_SEMAINES).
MATIN, APRES_MIDI = (time(9), time(12)), (time(14), time(18))
HORAIRES = {
    # General practice: weekdays morning and afternoon, Saturday morning.
    "dr.martin@demo.fr": [(jour, *MATIN, 30) for jour in range(6)]
                         + [(jour, *APRES_MIDI, 30) for jour in range(5)],
    # Paediatrics: weekdays, Wednesday afternoon off, afternoons end at 17:30.
    "dr.bernard@demo.fr": [(jour, *MATIN, 30) for jour in range(5)]
                          + [(jour, time(14), time(17, 30), 30) for jour in (0, 1, 3, 4)],
}

# Visit reasons (libellé, minutes, open to new patients, bookable online); 30-minute slots.
MOTIFS = {
    "dr.martin@demo.fr": [("Consultation", 30, True, True), ("Renouvellement d'ordonnance", 15, False, True),
                          ("Certificat médical", 15, True, True)],
    "dr.bernard@demo.fr": [("Consultation pédiatrique", 30, True, True), ("Vaccination", 15, True, True),
                           ("Suivi du nourrisson", 30, False, True)],
}


class Command(BaseCommand):
    help = ("Load the demo practice, its staff, patients, the doctors' weekly hours and the "
            "slots generated from them (idempotent).")

    def add_arguments(self, parser):
        parser.add_argument(
            "--sans-motifs", action="store_true",
            help="No visit reasons: patients then book without one (the test stacks of tests/live.py, "
                 "whose clients book the seed's way).",
        )

    def handle(self, *args, **options):
        self.motifs = not options.get("sans_motifs")
        # Passwords are hashed (PBKDF2, ~0.25 s each) before the write transaction: on
        # SQLite it holds the database's write lock, which a running server shares.
        existing = set(User.objects.filter(email__in=[u[0] for u in USERS]).values_list("email", flat=True))
        hashes = {email: make_password(PASSWORD) for email, *_ in USERS if email not in existing}
        with transaction.atomic():
            users, medecins = self.load(hashes)
        # Slots: generated from the hours (one transaction per doctor-day, each slot
        # published with its creneau:available), as the server's scheduler would.
        created = sum(generer_creneaux(medecin).crees for medecin in medecins)
        self.stdout.write(self.style.SUCCESS(
            f"Demo data ready: {len(users)} users, {created} new slots "
            f"(password for every account: {PASSWORD})"
        ))

    def load(self, hashes: dict[str, str]) -> tuple[dict[str, User], list[Medecin]]:
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
                    role=role, cabinet=cab, is_staff=role != Role.PATIENT,
                    is_superuser=role == Role.SUPERADMIN,
                )
            elif role != Role.PATIENT and not user.is_staff:  # seeded before staff used the admin
                User.objects.filter(pk=user.pk).update(is_staff=True)
            users[email] = user
        medecins = []
        for email, specialite in SPECIALITES.items():
            medecin, _ = Medecin.objects.get_or_create(
                user=users[email], defaults={"cabinet": cabinet, "specialite": specialite}
            )
            # Hours the staff changed since are theirs: set only when there are none.
            if not Horaire.objects.filter(medecin=medecin).exists():
                Horaire.objects.bulk_create([
                    Horaire(medecin=medecin, jour=jour, debut=debut, fin=fin, duree_minutes=duree)
                    for jour, debut, fin, duree in HORAIRES[email]
                ])
            # Reasons likewise: the doctor's own once they have any (retired ones included).
            if self.motifs and not Motif.objects.filter(medecin=medecin).exists():
                Motif.objects.bulk_create([
                    Motif(medecin=medecin, libelle=libelle, duree_minutes=duree, nouveaux_patients=nouveaux,
                          en_ligne=en_ligne)
                    for libelle, duree, nouveaux, en_ligne in MOTIFS[email]
                ])
            medecins.append(medecin)
        return users, medecins
