"""Practices, users, doctors, slots and bookings.

Integrity lives in the database: one active booking per slot (partial unique index),
no overlapping slots per doctor (PostgreSQL exclusion constraint / SQLite triggers, see
migration 0002), slot end after start, role/practice consistency.
"""

from __future__ import annotations

import zoneinfo

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .signals import access_revoked


class Role(models.TextChoices):
    PATIENT = "PATIENT", "Patient"
    MEDECIN = "MEDECIN", "Médecin"
    ADMINCABINET = "ADMINCABINET", "Administrateur de cabinet"
    SUPERADMIN = "SUPERADMIN", "Super administrateur"


STAFF_ROLES = (Role.MEDECIN, Role.ADMINCABINET)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"Fuseau horaire inconnu : {value}")


def default_rappel_offsets() -> list[int]:
    return [24 * 60, 60]


class Cabinet(models.Model):
    nom = models.CharField(max_length=200)
    adresse = models.CharField(max_length=300, blank=True)
    ville = models.CharField(max_length=120, db_index=True)
    code_postal = models.CharField(max_length=10, blank=True)
    telephone = models.CharField(max_length=30, blank=True)
    timezone = models.CharField(
        max_length=64, default="Europe/Paris", validators=[validate_timezone]
    )
    # Minutes before a confirmed booking at which a reminder is sent.
    rappel_offsets = models.JSONField(default=default_rappel_offsets)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["nom"]

    def __str__(self) -> str:
        return f"{self.nom} ({self.ville})"

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        """Hashes the password, then saves: call it outside any write transaction.

        Hashing is PBKDF2, ~0.25 s of CPU. Inside ``transaction.atomic()`` that time would
        be spent holding the transaction: on SQLite (``BEGIN IMMEDIATE``) the database-wide
        write lock. A caller that needs its own transaction hashes first
        (``make_password``) and calls ``create_user_with_hash`` inside it.
        """
        return self.create_user_with_hash(email, make_password(password), **extra)

    def create_user_with_hash(self, email: str, password_hash: str, **extra) -> User:
        """Save a user whose password ``make_password`` already hashed (nothing slow here).

        E-mail uniqueness is left to the unique index (an ``IntegrityError``), so a race
        between two sign-ups with one address ends the same way as any duplicate.
        """
        if not email:
            raise ValueError("L'adresse e-mail est obligatoire")
        user = self.model(email=self.normalize_email(email).lower(), password=password_hash, **extra)
        user.full_clean(exclude=["password"], validate_unique=False)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username):
        # E-mails are stored lower-cased (create_user, register_patient): log-in with
        # any case, as users expect. Rows saved with capitals by hand still match exactly.
        try:
            return self.get(email__iexact=username)
        except self.model.MultipleObjectsReturned:
            return self.get(email=username)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("role", Role.SUPERADMIN)
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    first_name = models.CharField("prénom", max_length=150, blank=True)
    last_name = models.CharField("nom", max_length=150, blank=True)
    telephone = models.CharField(max_length=30, blank=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PATIENT)
    # The practice a doctor or a practice administrator belongs to.
    cabinet = models.ForeignKey(
        Cabinet, null=True, blank=True, on_delete=models.PROTECT, related_name="membres"
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                name="user_cabinet_selon_role",
                condition=(
                    Q(role__in=["MEDECIN", "ADMINCABINET"], cabinet__isnull=False)
                    | Q(role__in=["PATIENT", "SUPERADMIN"], cabinet__isnull=True)
                ),
            ),
            models.CheckConstraint(
                name="user_role_valide",
                condition=Q(role__in=[r.value for r in Role]),
            ),
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Remembered so save() can tell a deactivation (without loading a deferred field).
        self._was_active = self.__dict__.get("is_active")

    def save(self, *args, **kwargs) -> None:
        # A password change (set_password, wherever it is called) or a deactivation ends
        # every session of the user: realtime revokes their tokens and closes their sockets.
        revoked = not self._state.adding and (
            self._password is not None or (self._was_active is True and self.is_active is False)
        )
        super().save(*args, **kwargs)
        self._was_active = self.is_active
        if revoked:
            access_revoked.send(sender=User, user=self)

    def __str__(self) -> str:
        return self.get_full_name() or self.email

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name or self.email

    @property
    def personal_room(self) -> str | None:
        """The seed's role-personal room (``patient:{id}``...), None for super admins."""
        if self.role == Role.SUPERADMIN:
            return None
        return f"{self.role.lower()}:{self.pk}"


class Medecin(models.Model):
    """A doctor's profile. Its key is the user's id, so ``medecin:{id}`` is one id."""

    user = models.OneToOneField(
        User, primary_key=True, on_delete=models.CASCADE, related_name="medecin"
    )
    cabinet = models.ForeignKey(Cabinet, on_delete=models.PROTECT, related_name="medecins")
    specialite = models.CharField(max_length=120, db_index=True)
    rpps = models.CharField("n° RPPS", max_length=20, blank=True)

    class Meta:
        ordering = ["user__last_name", "user__first_name"]

    def __str__(self) -> str:
        return f"Dr {self.user.get_full_name()} ({self.specialite})"

    @property
    def id(self) -> int:
        return self.user_id


class Creneau(models.Model):
    """A bookable time slot. Times are UTC in the database; shown in the practice's zone."""

    medecin = models.ForeignKey(Medecin, on_delete=models.CASCADE, related_name="creneaux")
    debut = models.DateTimeField(db_index=True)
    fin = models.DateTimeField()
    # A withdrawn slot stays for history (its past bookings point to it).
    actif = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["debut", "id"]
        verbose_name = "créneau"
        indexes = [models.Index(fields=["medecin", "debut"])]
        constraints = [
            models.CheckConstraint(name="creneau_fin_apres_debut", condition=Q(fin__gt=models.F("debut"))),
        ]

    def __str__(self) -> str:
        local = timezone.localtime(self.debut, self.medecin.cabinet.tzinfo)
        return f"{self.medecin} — {local:%d/%m/%Y %H:%M}"


class StatutRendezVous(models.TextChoices):
    EN_ATTENTE = "EN_ATTENTE", "En attente"
    CONFIRME = "CONFIRME", "Confirmé"
    ANNULE = "ANNULE", "Annulé"


ACTIVE_STATUTS = (StatutRendezVous.EN_ATTENTE, StatutRendezVous.CONFIRME)


class RendezVous(models.Model):
    patient = models.ForeignKey(User, on_delete=models.PROTECT, related_name="rendezvous")
    creneau = models.ForeignKey(Creneau, on_delete=models.PROTECT, related_name="rendezvous")
    motif = models.CharField(max_length=500, blank=True)
    statut = models.CharField(
        max_length=12, choices=StatutRendezVous.choices, default=StatutRendezVous.EN_ATTENTE
    )
    annule_par = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    motif_annulation = models.CharField(max_length=500, blank=True)
    confirme_at = models.DateTimeField(null=True, blank=True)
    annule_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "rendez-vous"
        verbose_name_plural = "rendez-vous"
        constraints = [
            models.UniqueConstraint(
                fields=["creneau"],
                condition=Q(statut__in=["EN_ATTENTE", "CONFIRME"]),
                name="un_rendezvous_actif_par_creneau",
            ),
            models.CheckConstraint(
                name="rendezvous_statut_valide",
                condition=Q(statut__in=["EN_ATTENTE", "CONFIRME", "ANNULE"]),
            ),
            models.CheckConstraint(
                name="rendezvous_annule_a_une_date",
                condition=Q(statut="ANNULE", annule_at__isnull=False) | ~Q(statut="ANNULE"),
            ),
        ]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Remembered so post_save receivers can tell which transition happened.
        self._statut_initial = self.statut if self.pk else None

    def __str__(self) -> str:
        return f"RDV #{self.pk} {self.patient} — {self.creneau} ({self.get_statut_display()})"

    @property
    def medecin(self) -> Medecin:
        return self.creneau.medecin

    @property
    def est_actif(self) -> bool:
        return self.statut in ACTIVE_STATUTS


class Rappel(models.Model):
    """A reminder of a booking, at ``offset_minutes`` before it.

    The row is written in the same transaction as the ``rappel:reminder`` event, and its
    uniqueness is what makes "each reminder sent once, ever" hold across processes.
    """

    class Statut(models.TextChoices):
        ENVOYE = "ENVOYE", "Envoyé"
        # Overtaken by a nearer reminder (the server was down at its time).
        IGNORE = "IGNORE", "Ignoré"

    rendezvous = models.ForeignKey(RendezVous, on_delete=models.CASCADE, related_name="rappels")
    offset_minutes = models.PositiveIntegerField()
    statut = models.CharField(max_length=8, choices=Statut.choices, default=Statut.ENVOYE)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rendezvous", "offset_minutes"], name="rappel_unique"),
        ]

    def __str__(self) -> str:
        return f"Rappel {self.offset_minutes} min — RDV #{self.rendezvous_id}"
