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
    nom = models.CharField("nom", max_length=200)
    adresse = models.CharField("adresse", max_length=300, blank=True)
    ville = models.CharField("ville", max_length=120, db_index=True)
    code_postal = models.CharField("code postal", max_length=10, blank=True)
    telephone = models.CharField("téléphone", max_length=30, blank=True)
    timezone = models.CharField(
        "fuseau horaire", max_length=64, default="Europe/Paris", validators=[validate_timezone]
    )
    # Minutes before a confirmed booking at which a reminder is sent.
    rappel_offsets = models.JSONField("rappels (minutes avant)", default=default_rappel_offsets)
    # Practice rules (SPEC "Practice workflow"); they bind patients, never the practice's staff.
    delai_annulation_heures = models.PositiveIntegerField(
        "délai d'annulation (heures)", default=0,
        help_text="Un patient ne peut plus annuler ni déplacer un rendez-vous moins de tant "
                  "d'heures avant (0 : jusqu'au dernier moment).",
    )
    preavis_minimum_minutes = models.PositiveIntegerField(
        "préavis minimum (minutes)", default=0,
        help_text="La prise de rendez-vous en ligne ferme tant de minutes avant le créneau.",
    )
    max_rdv_a_venir = models.PositiveIntegerField(
        "rendez-vous à venir par patient (maximum)", null=True, blank=True,
        help_text="Nombre maximal de rendez-vous à venir d'un patient dans ce cabinet (vide : sans limite).",
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)

    class Meta:
        ordering = ["nom"]
        verbose_name = "cabinet"
        verbose_name_plural = "cabinets"
        constraints = [
            models.CheckConstraint(
                name="cabinet_regles_bornees",
                condition=Q(delai_annulation_heures__lte=24 * 30, preavis_minimum_minutes__lte=60 * 24 * 30)
                & (Q(max_rdv_a_venir__isnull=True) | Q(max_rdv_a_venir__gte=1, max_rdv_a_venir__lte=100)),
            ),
        ]

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
    # NULL for a patient record made on the phone without an e-mail (many NULLs are allowed
    # by the unique index); such a record has no usable password until claimed.
    email = models.EmailField("adresse e-mail", unique=True, null=True, blank=True)
    first_name = models.CharField("prénom", max_length=150, blank=True)
    last_name = models.CharField("nom", max_length=150, blank=True)
    telephone = models.CharField("téléphone", max_length=30, blank=True)
    role = models.CharField("rôle", max_length=16, choices=Role.choices, default=Role.PATIENT)
    # The practice a doctor or a practice administrator belongs to.
    cabinet = models.ForeignKey(
        Cabinet, verbose_name="cabinet", null=True, blank=True, on_delete=models.PROTECT,
        related_name="membres",
    )
    # The practice that made this patient record on the phone (staff may then find it).
    cree_par_cabinet = models.ForeignKey(
        Cabinet, verbose_name="fiche créée par le cabinet", null=True, blank=True,
        on_delete=models.SET_NULL, related_name="patients_crees",
    )
    is_active = models.BooleanField("actif", default=True)
    is_staff = models.BooleanField("accès à l'administration", default=False)
    date_joined = models.DateTimeField("inscrit le", default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]
        verbose_name = "utilisateur"
        verbose_name_plural = "utilisateurs"
        constraints = [
            models.CheckConstraint(
                name="user_sans_email_est_un_patient",
                condition=Q(email__isnull=False) | Q(role="PATIENT"),
            ),
            models.CheckConstraint(
                name="user_fiche_cabinet_est_un_patient",
                condition=Q(cree_par_cabinet__isnull=True) | Q(role="PATIENT"),
            ),
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
        return self.get_full_name() or self.email or f"Patient #{self.pk}"

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
        User, verbose_name="utilisateur", primary_key=True, on_delete=models.CASCADE,
        related_name="medecin",
    )
    cabinet = models.ForeignKey(
        Cabinet, verbose_name="cabinet", on_delete=models.PROTECT, related_name="medecins"
    )
    specialite = models.CharField("spécialité", max_length=120, db_index=True)
    rpps = models.CharField("n° RPPS", max_length=20, blank=True)
    nouveaux_patients_en_ligne = models.BooleanField(
        "nouveaux patients en ligne", default=True,
        help_text="Un patient qui n'a jamais consulté ce médecin peut-il prendre rendez-vous en ligne ?",
    )

    class Meta:
        ordering = ["user__last_name", "user__first_name"]
        verbose_name = "médecin"
        verbose_name_plural = "médecins"

    def __str__(self) -> str:
        return f"Dr {self.user.get_full_name()} ({self.specialite})"

    @property
    def id(self) -> int:
        return self.user_id


class Creneau(models.Model):
    """A bookable time slot. Times are UTC in the database; shown in the practice's zone."""

    medecin = models.ForeignKey(
        Medecin, verbose_name="médecin", on_delete=models.CASCADE, related_name="creneaux"
    )
    debut = models.DateTimeField("début", db_index=True)
    fin = models.DateTimeField("fin")
    # A withdrawn slot stays for history (its past bookings point to it).
    actif = models.BooleanField("actif", default=True)
    # Made from the doctor's weekly hours (``generer_creneaux``): a change of hours or an
    # absence may withdraw it while free; a slot published by hand is left alone.
    genere = models.BooleanField("généré depuis les horaires", default=False)
    created_at = models.DateTimeField("créé le", auto_now_add=True)

    class Meta:
        ordering = ["debut", "id"]
        verbose_name = "créneau"
        verbose_name_plural = "créneaux"
        indexes = [models.Index(fields=["medecin", "debut"])]
        constraints = [
            models.CheckConstraint(name="creneau_fin_apres_debut", condition=Q(fin__gt=models.F("debut"))),
        ]

    def __str__(self) -> str:
        local = timezone.localtime(self.debut, self.medecin.cabinet.tzinfo)
        return f"{self.medecin} — {local:%d/%m/%Y %H:%M}"


class Motif(models.Model):
    """A visit reason of a doctor: what a patient books, and how long it takes."""

    medecin = models.ForeignKey(
        Medecin, verbose_name="médecin", on_delete=models.CASCADE, related_name="motifs"
    )
    libelle = models.CharField("libellé", max_length=120)
    duree_minutes = models.PositiveIntegerField("durée (minutes)")
    # May a patient who never saw this doctor book it online?
    nouveaux_patients = models.BooleanField("ouvert aux nouveaux patients", default=True)
    en_ligne = models.BooleanField("réservable en ligne", default=True)
    # Deleting a reason deactivates it: past bookings keep naming it.
    actif = models.BooleanField("actif", default=True)
    created_at = models.DateTimeField("créé le", auto_now_add=True)

    class Meta:
        ordering = ["medecin", "libelle", "id"]
        verbose_name = "motif de consultation"
        verbose_name_plural = "motifs de consultation"
        constraints = [
            models.UniqueConstraint(
                fields=["medecin", "libelle"], condition=Q(actif=True), name="motif_libelle_unique_actif"
            ),
            models.CheckConstraint(
                name="motif_duree_bornee", condition=Q(duree_minutes__gte=5, duree_minutes__lte=480)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.libelle} ({self.duree_minutes} min)"


class Jour(models.IntegerChoices):
    LUNDI = 0, "Lundi"
    MARDI = 1, "Mardi"
    MERCREDI = 2, "Mercredi"
    JEUDI = 3, "Jeudi"
    VENDREDI = 4, "Vendredi"
    SAMEDI = 5, "Samedi"
    DIMANCHE = 6, "Dimanche"


class Horaire(models.Model):
    """Weekly opening hours of a doctor: on ``jour``, slots of ``duree_minutes`` from
    ``debut`` to ``fin``, wall-clock times in the practice's time zone. No two ranges of
    one doctor overlap on a day (checked by the service that replaces the week)."""

    medecin = models.ForeignKey(
        Medecin, verbose_name="médecin", on_delete=models.CASCADE, related_name="horaires"
    )
    jour = models.PositiveSmallIntegerField("jour", choices=Jour.choices)
    debut = models.TimeField("début")
    fin = models.TimeField("fin")
    duree_minutes = models.PositiveIntegerField("durée d'un créneau (minutes)")

    class Meta:
        ordering = ["medecin", "jour", "debut"]
        verbose_name = "horaire hebdomadaire"
        verbose_name_plural = "horaires hebdomadaires"
        constraints = [
            models.CheckConstraint(name="horaire_fin_apres_debut", condition=Q(fin__gt=models.F("debut"))),
            models.CheckConstraint(name="horaire_jour_valide", condition=Q(jour__gte=0, jour__lte=6)),
            models.CheckConstraint(
                name="horaire_duree_bornee", condition=Q(duree_minutes__gte=5, duree_minutes__lte=480)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_jour_display()} {self.debut:%H:%M}–{self.fin:%H:%M} ({self.duree_minutes} min)"


class Absence(models.Model):
    """A period a doctor does not work: no slot is generated in it, free ones are withdrawn."""

    medecin = models.ForeignKey(
        Medecin, verbose_name="médecin", on_delete=models.CASCADE, related_name="absences"
    )
    debut = models.DateTimeField("début")
    fin = models.DateTimeField("fin")
    motif = models.CharField("motif", max_length=200, blank=True)
    cree_par = models.ForeignKey(
        User, verbose_name="créée par", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField("créée le", auto_now_add=True)

    class Meta:
        ordering = ["medecin", "debut"]
        verbose_name = "absence"
        verbose_name_plural = "absences"
        indexes = [models.Index(fields=["medecin", "debut"])]
        constraints = [
            models.CheckConstraint(name="absence_fin_apres_debut", condition=Q(fin__gt=models.F("debut"))),
        ]

    def __str__(self) -> str:
        tz = self.medecin.cabinet.tzinfo
        return (f"{self.medecin} absent du {timezone.localtime(self.debut, tz):%d/%m/%Y %H:%M} "
                f"au {timezone.localtime(self.fin, tz):%d/%m/%Y %H:%M}")


class StatutRendezVous(models.TextChoices):
    EN_ATTENTE = "EN_ATTENTE", "En attente"
    CONFIRME = "CONFIRME", "Confirmé"
    ANNULE = "ANNULE", "Annulé"


ACTIVE_STATUTS = (StatutRendezVous.EN_ATTENTE, StatutRendezVous.CONFIRME)


class RendezVous(models.Model):
    patient = models.ForeignKey(
        User, verbose_name="patient", on_delete=models.PROTECT, related_name="rendezvous"
    )
    creneau = models.ForeignKey(
        Creneau, verbose_name="créneau", on_delete=models.PROTECT, related_name="rendezvous"
    )
    # The patient's words (free text, as in the seed); the visit reason is ``motif_consultation``.
    motif = models.CharField("motif (texte libre)", max_length=500, blank=True)
    motif_consultation = models.ForeignKey(
        Motif, verbose_name="motif de consultation", null=True, blank=True,
        on_delete=models.PROTECT, related_name="rendezvous",
    )
    statut = models.CharField(
        "statut", max_length=12, choices=StatutRendezVous.choices, default=StatutRendezVous.EN_ATTENTE
    )
    # Who made the booking: the patient online, or the practice's staff (phone, desk).
    pris_par = models.ForeignKey(
        User, verbose_name="pris par", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    annule_par = models.ForeignKey(
        User, verbose_name="annulé par", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    motif_annulation = models.CharField("motif d'annulation", max_length=500, blank=True)
    confirme_at = models.DateTimeField("confirmé le", null=True, blank=True)
    annule_at = models.DateTimeField("annulé le", null=True, blank=True)
    # The last move (``move_rendezvous``): when, and the slot it left.
    deplace_at = models.DateTimeField("déplacé le", null=True, blank=True)
    ancien_creneau = models.ForeignKey(
        Creneau, verbose_name="ancien créneau", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)
    updated_at = models.DateTimeField("modifié le", auto_now=True)

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

    rendezvous = models.ForeignKey(
        RendezVous, verbose_name="rendez-vous", on_delete=models.CASCADE, related_name="rappels"
    )
    offset_minutes = models.PositiveIntegerField("minutes avant")
    # The booking's start this reminder was for: a moved booking gets its reminders again
    # for its new time (and the old time's are never sent).
    debut = models.DateTimeField("début du rendez-vous rappelé")
    statut = models.CharField("statut", max_length=8, choices=Statut.choices, default=Statut.ENVOYE)
    created_at = models.DateTimeField("envoyé le", default=timezone.now)

    class Meta:
        verbose_name = "rappel"
        verbose_name_plural = "rappels"
        constraints = [
            models.UniqueConstraint(fields=["rendezvous", "offset_minutes", "debut"], name="rappel_unique"),
        ]

    def __str__(self) -> str:
        return f"Rappel {self.offset_minutes} min — RDV #{self.rendezvous_id}"
