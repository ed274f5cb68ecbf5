"""Slot holds (``Retenue``) and the waiting list (``InscriptionAttente``).

A hold is live while ``active`` and ``expire_at`` is ahead: every check compares
``expire_at`` with now in its own transaction, so a hold whose server died before
releasing it blocks nothing once its time is up (the scheduler only tidies the row and
tells followers). The database keeps one active hold per slot, one active browsing hold
per patient and one active offer per waiting-list entry (partial unique indexes); an
active row past its time is deactivated under the slot's lock before another hold of that
slot is written.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from rendezvous.models import Creneau, Medecin, Motif, User


class InscriptionAttente(models.Model):
    """A patient waiting for a slot of ``medecin`` on a day from ``date_debut`` to
    ``date_fin`` (the practice's days), long enough for ``motif_consultation`` if given."""

    patient = models.ForeignKey(User, verbose_name="patient", on_delete=models.CASCADE,
                                related_name="inscriptions_attente")
    medecin = models.ForeignKey(Medecin, verbose_name="médecin", on_delete=models.CASCADE,
                                related_name="inscriptions_attente")
    date_debut = models.DateField("du")
    date_fin = models.DateField("au")
    motif_consultation = models.ForeignKey(Motif, verbose_name="motif de consultation", null=True, blank=True,
                                           on_delete=models.SET_NULL, related_name="+")
    # Off once withdrawn by the patient or served (they booked through an offer).
    active = models.BooleanField("active", default=True)
    servie_at = models.DateTimeField("servie le", null=True, blank=True)
    created_at = models.DateTimeField("inscrite le", auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "inscription en liste d'attente"
        verbose_name_plural = "liste d'attente"
        indexes = [models.Index(fields=["medecin", "active", "created_at"])]
        constraints = [
            models.CheckConstraint(name="attente_fin_apres_debut", condition=Q(date_fin__gte=models.F("date_debut"))),
        ]

    def __str__(self) -> str:
        return f"{self.patient} — {self.medecin} du {self.date_debut:%d/%m/%Y} au {self.date_fin:%d/%m/%Y}"


class Retenue(models.Model):
    """A slot held for a patient: while they book it (``offre`` empty, RETENUE_SECONDES),
    or offered to them from the waiting list (``offre``: the entry, OFFRE_SECONDES)."""

    class Issue(models.TextChoices):
        EN_COURS = "EN_COURS", "En cours"
        CONSOMMEE = "CONSOMMEE", "Réservée"
        LIBEREE = "LIBEREE", "Libérée"
        EXPIREE = "EXPIREE", "Expirée"
        REMPLACEE = "REMPLACEE", "Remplacée"

    creneau = models.ForeignKey(Creneau, verbose_name="créneau", on_delete=models.CASCADE, related_name="retenues")
    patient = models.ForeignKey(User, verbose_name="patient", on_delete=models.CASCADE, related_name="retenues")
    offre = models.ForeignKey(InscriptionAttente, verbose_name="offre de la liste d'attente", null=True, blank=True,
                              on_delete=models.CASCADE, related_name="offres")
    expire_at = models.DateTimeField("expire le", db_index=True)
    active = models.BooleanField("active", default=True)
    issue = models.CharField("issue", max_length=10, choices=Issue.choices, default=Issue.EN_COURS)
    created_at = models.DateTimeField("créée le", auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "créneau retenu"
        verbose_name_plural = "créneaux retenus"
        constraints = [
            models.UniqueConstraint(fields=["creneau"], condition=Q(active=True), name="une_retenue_par_creneau"),
            models.UniqueConstraint(fields=["patient"], condition=Q(active=True, offre__isnull=True),
                                    name="une_retenue_par_patient"),
            # An entry is offered a given slot once: on expiry the slot goes to the next in line.
            models.UniqueConstraint(fields=["offre", "creneau"], name="une_offre_par_inscription_et_creneau"),
            # One offer at a time per entry: a second freed slot goes to the next in line
            # instead of waiting OFFRE_SECONDES on a patient who can book only one.
            models.UniqueConstraint(fields=["offre"], condition=Q(active=True, offre__isnull=False),
                                    name="une_offre_active_par_inscription"),
            models.CheckConstraint(name="retenue_active_en_cours",
                                   condition=Q(active=True, issue="EN_COURS") | Q(active=False) & ~Q(issue="EN_COURS")),
        ]

    def __str__(self) -> str:
        return f"{self.creneau} retenu pour {self.patient} jusqu'à {self.expire_at:%H:%M:%S}"
