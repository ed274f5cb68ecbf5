"""The outbox: every e-mail and SMS to send, one row each, written in the transaction of
the fact that causes it; the patients' channel preferences; calendar subscription tokens.

A row is sent after its transaction commits, by whichever sender claims it first (the
in-server worker, ``manage.py send_outbox``); ``cle`` (unique) makes writing it twice
impossible, the claim (row lock, lease) sending it twice.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Canal(models.TextChoices):
    EMAIL = "EMAIL", "E-mail"
    SMS = "SMS", "SMS"


class StatutEnvoi(models.TextChoices):
    A_ENVOYER = "A_ENVOYER", "À envoyer"
    ENVOYE = "ENVOYE", "Envoyé"
    ECHEC = "ECHEC", "Échec"


class Envoi(models.Model):
    canal = models.CharField("canal", max_length=5, choices=Canal.choices)
    destinataire = models.CharField("destinataire", max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="utilisateur", null=True, blank=True,
        on_delete=models.SET_NULL, related_name="envois",
    )
    # The booking it is about (scopes the admin to the practice), if any.
    rendezvous = models.ForeignKey(
        "rendezvous.RendezVous", verbose_name="rendez-vous", null=True, blank=True,
        on_delete=models.SET_NULL, related_name="envois",
    )
    type = models.CharField("type", max_length=64, db_index=True)
    sujet = models.CharField("sujet", max_length=300, blank=True)
    texte = models.TextField("texte")
    html = models.TextField("HTML", blank=True)
    piece_jointe = models.TextField("pièce jointe iCalendar", null=True, blank=True)
    # Idempotency key: "<type>:<object id>:<event id>:<canal>" for event-caused messages.
    cle = models.CharField("clé d'unicité", max_length=200, unique=True)
    statut = models.CharField("statut", max_length=10, choices=StatutEnvoi.choices,
                              default=StatutEnvoi.A_ENVOYER)
    tentatives = models.PositiveIntegerField("tentatives", default=0)
    # When a sender may (next) take it: now at writing, later after a failure (backoff)
    # or while a sender holds it (lease).
    prochain_essai = models.DateTimeField("prochain essai", default=timezone.now)
    derniere_erreur = models.TextField("dernière erreur", blank=True)
    created_at = models.DateTimeField("créé le", default=timezone.now)
    envoye_at = models.DateTimeField("envoyé le", null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "envoi"
        verbose_name_plural = "envois (e-mails et SMS)"
        indexes = [
            # The senders' query: due rows still to send, oldest first.
            models.Index(fields=["prochain_essai", "id"], condition=Q(statut="A_ENVOYER"),
                         name="envoi_a_envoyer_idx"),
        ]
        constraints = [
            models.CheckConstraint(name="envoi_statut_valide",
                                   condition=Q(statut__in=["A_ENVOYER", "ENVOYE", "ECHEC"])),
            models.CheckConstraint(name="envoi_canal_valide", condition=Q(canal__in=["EMAIL", "SMS"])),
            models.CheckConstraint(name="envoi_envoye_a_une_date",
                                   condition=~Q(statut="ENVOYE") | Q(envoye_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.get_canal_display()} {self.type} → {self.destinataire} ({self.get_statut_display()})"


class Genre(models.TextChoices):
    """What a message is about: the unit of the patient's preferences."""

    CONFIRMATION = "confirmation", "Confirmation"
    MODIFICATION = "modification", "Modification"
    ANNULATION = "annulation", "Annulation"
    RAPPEL = "rappel", "Rappel"


class Preferences(models.Model):
    """A user's channels per kind; no row means the defaults (e-mail for everything, SMS
    for reminders when the user has a mobile number). In-app notifications always go."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name="utilisateur", primary_key=True,
                                on_delete=models.CASCADE, related_name="preferences_envoi")
    email_confirmation = models.BooleanField("e-mail : confirmation", default=True)
    sms_confirmation = models.BooleanField("SMS : confirmation", default=False)
    email_modification = models.BooleanField("e-mail : modification", default=True)
    sms_modification = models.BooleanField("SMS : modification", default=False)
    email_annulation = models.BooleanField("e-mail : annulation", default=True)
    sms_annulation = models.BooleanField("SMS : annulation", default=False)
    email_rappel = models.BooleanField("e-mail : rappel", default=True)
    sms_rappel = models.BooleanField("SMS : rappel", default=True)
    updated_at = models.DateTimeField("modifié le", auto_now=True)

    class Meta:
        verbose_name = "préférences d'envoi"
        verbose_name_plural = "préférences d'envoi"

    def __str__(self) -> str:
        return f"Préférences de {self.user}"

    def veut(self, canal: str, genre: str) -> bool:
        return bool(getattr(self, f"{canal.lower()}_{genre}"))


class JetonCalendrier(models.Model):
    """The secret of a user's calendar subscription URL (``/calendrier/<jeton>.ics``).

    One per user; rotating replaces it (the old URL answers 404 from then on)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name="utilisateur", primary_key=True,
                                on_delete=models.CASCADE, related_name="jeton_calendrier")
    jeton = models.CharField("jeton", max_length=64, unique=True)
    created_at = models.DateTimeField("créé le", default=timezone.now)

    class Meta:
        verbose_name = "abonnement calendrier"
        verbose_name_plural = "abonnements calendrier"

    def __str__(self) -> str:
        return f"Calendrier de {self.user}"
