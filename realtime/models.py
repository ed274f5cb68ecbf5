"""The event log: every real-time event, written in the transaction that caused it.

One row per event (``id`` is the payload's ``eventId``) and one row per room it was
addressed to, never one per recipient: a role-wide broadcast to thousands is two rows.
The notification centre and replay read from here; read state is per user.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class Event(models.Model):
    name = models.CharField("événement", max_length=64, db_index=True)
    type = models.CharField("type", max_length=8)
    message = models.CharField("message", max_length=1000)
    data = models.JSONField("données")
    # Shown in the notification centre (personal events and broadcasts).
    notify = models.BooleanField("dans le centre de notifications", default=False)
    # None: every connected socket (a broadcast to everyone).
    to_everyone = models.BooleanField("à tout le monde", default=False)
    created_at = models.DateTimeField("émis le", auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "événement"
        verbose_name_plural = "journal des événements"

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}"

    def payload(self) -> dict[str, Any]:
        """What a socket receives: the same for the live emit, replay and catch-up."""
        return {
            "type": self.type,
            "message": self.message,
            "data": self.data,
            "eventId": self.pk,
            "emittedAt": self.created_at.isoformat(),
        }


class EventRoom(models.Model):
    event = models.ForeignKey(Event, verbose_name="événement", on_delete=models.CASCADE, related_name="rooms")
    room = models.CharField("salle", max_length=100)

    class Meta:
        verbose_name = "salle destinataire"
        verbose_name_plural = "salles destinataires"
        indexes = [models.Index(fields=["room", "event"])]
        constraints = [
            models.UniqueConstraint(fields=["event", "room"], name="eventroom_unique"),
        ]


class NotificationRead(models.Model):
    """A user has read one notification."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="utilisateur", on_delete=models.CASCADE)
    event = models.ForeignKey(Event, verbose_name="notification", on_delete=models.CASCADE)
    read_at = models.DateTimeField("lue le", auto_now_add=True)

    class Meta:
        verbose_name = "notification lue"
        verbose_name_plural = "notifications lues"
        constraints = [
            models.UniqueConstraint(fields=["user", "event"], name="notificationread_unique"),
        ]


class NotificationCursor(models.Model):
    """Everything up to ``read_up_to`` is read: 'mark all read' is one row, not N."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name="utilisateur", primary_key=True, on_delete=models.CASCADE
    )
    read_up_to = models.BigIntegerField("tout lu jusqu'à l'événement n°", default=0)

    class Meta:
        verbose_name = "curseur de lecture"
        verbose_name_plural = "curseurs de lecture"


class TokenVersion(models.Model):
    """A user's token version: tokens carry the version they were issued at
    (``realtime.auth``); a password change or a deactivation bumps it, so every earlier
    token is refused. No row means version 0. Kept apart from ``User`` so that saving a
    stale ``User`` instance cannot write an older version back."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name="utilisateur", primary_key=True, on_delete=models.CASCADE,
        related_name="token_version",
    )
    version = models.PositiveBigIntegerField("version des jetons", default=0)

    class Meta:
        verbose_name = "version des jetons"
        verbose_name_plural = "versions des jetons"


class RevokedSession(models.Model):
    """A logged-out session (the ``sid`` claim): every token of it is refused."""

    sid = models.CharField("session", primary_key=True, max_length=64)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="utilisateur", on_delete=models.CASCADE)
    revoked_at = models.DateTimeField("révoquée le", auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "session révoquée"
        verbose_name_plural = "sessions révoquées"
