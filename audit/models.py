"""The access log of personal data: who read or changed which patient's bookings and
messages, when, and from where.

Rows are only ever inserted. The database itself refuses UPDATE and DELETE on the table
(triggers, migration 0002, on PostgreSQL and on SQLite), the admin is read-only, and no
code path of the application deletes a row. Retention: kept for good from the
application's side; a purge is an operator's SQL run with the trigger disabled
explicitly (see ``audit/triggers.py``).

The actor and the patient are kept as ids without a foreign-key constraint, not
``SET_NULL``: nulling the column when a user is deleted would be an UPDATE of the log,
which the log refuses; the id stays (ids are never reused) and the actor's e-mail and
role at the time are copied into the row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Action(models.TextChoices):
    LECTURE = "LECTURE", "Lecture"
    CREATION = "CREATION", "Création"
    MODIFICATION = "MODIFICATION", "Modification"
    CONFIRMATION = "CONFIRMATION", "Confirmation"
    ANNULATION = "ANNULATION", "Annulation"
    DEPLACEMENT = "DEPLACEMENT", "Déplacement"
    SUPPRESSION = "SUPPRESSION", "Suppression"
    ENVOI = "ENVOI", "Envoi"
    ACCUSE_LECTURE = "ACCUSE_LECTURE", "Accusé de lecture"


class TypeObjet(models.TextChoices):
    RENDEZVOUS = "RENDEZVOUS", "Rendez-vous"
    MESSAGE = "MESSAGE", "Message"
    CONVERSATION = "CONVERSATION", "Conversation"
    PATIENT = "PATIENT", "Dossier patient"
    # A notification-centre entry (or an event in the admin) carrying a booking or a message.
    NOTIFICATION = "NOTIFICATION", "Notification"


class Canal(models.TextChoices):
    API = "API", "API REST"
    ADMIN = "ADMIN", "Administration Django"
    AUTRE = "AUTRE", "Autre requête HTTP"
    # manage.py commands, scheduled tasks: no request, no IP.
    HORS_REQUETE = "HORS_REQUETE", "Hors requête (commande)"


class JournalAcces(models.Model):
    horodatage = models.DateTimeField("horodatage", default=timezone.now, editable=False)
    acteur = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, db_constraint=False,
        db_index=False, related_name="+", verbose_name="acteur",
    )
    acteur_email = models.CharField("e-mail de l'acteur", max_length=254)
    acteur_role = models.CharField("rôle de l'acteur", max_length=16)
    action = models.CharField("action", max_length=16, choices=Action.choices)
    objet_type = models.CharField("type d'objet", max_length=16, choices=TypeObjet.choices)
    # The object when the action is on one; null for a list read (see objet_ids).
    objet_id = models.BigIntegerField("id de l'objet", null=True, blank=True)
    # Every object of this patient the request returned or changed.
    objet_ids = models.JSONField("ids des objets", default=list)
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, db_constraint=False,
        db_index=False, related_name="+", verbose_name="patient concerné",
    )
    canal = models.CharField("canal", max_length=16, choices=Canal.choices)
    ip = models.GenericIPAddressField("adresse IP", null=True, blank=True)
    user_agent = models.CharField("navigateur (user agent)", max_length=300, blank=True)
    methode = models.CharField("méthode", max_length=10, blank=True)
    chemin = models.CharField("chemin", max_length=500, blank=True)
    request_id = models.CharField("id de requête", max_length=32, blank=True)

    class Meta:
        verbose_name = "accès aux données personnelles"
        verbose_name_plural = "journal des accès aux données personnelles"
        ordering = ["-horodatage", "-id"]
        # Only "view": the log has no add/change/delete permission to grant.
        default_permissions = ("view",)
        indexes = [
            # "Who accessed patient X" and "what did user Y read or change", by date.
            models.Index(fields=["patient", "horodatage"], name="journal_patient_date"),
            models.Index(fields=["acteur", "horodatage"], name="journal_acteur_date"),
        ]

    def __str__(self) -> str:
        return f"{self.horodatage:%d/%m/%Y %H:%M:%S} {self.acteur_email} {self.get_action_display()}"
