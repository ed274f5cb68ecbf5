"""Conversations between two people, their messages and read receipts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Conversation(models.Model):
    participants = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Participation", related_name="conversations",
        verbose_name="participants",
    )
    created_at = models.DateTimeField("créée le", auto_now_add=True)
    updated_at = models.DateTimeField("dernière activité", auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = "conversation"
        verbose_name_plural = "conversations"

    def __str__(self) -> str:
        return f"Conversation #{self.pk}"


class Participation(models.Model):
    conversation = models.ForeignKey(Conversation, verbose_name="conversation", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="participant", on_delete=models.CASCADE)
    joined_at = models.DateTimeField("arrivé le", auto_now_add=True)

    class Meta:
        verbose_name = "participation"
        verbose_name_plural = "participations"
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="participation_unique"),
        ]


class Message(models.Model):
    conversation = models.ForeignKey(
        Conversation, verbose_name="conversation", on_delete=models.CASCADE, related_name="messages"
    )
    auteur = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="auteur", on_delete=models.PROTECT, related_name="messages_envoyes"
    )
    contenu = models.TextField("contenu", max_length=5000)
    created_at = models.DateTimeField("envoyé le", auto_now_add=True)
    # Two-party conversations: read when the other participant has read it.
    lu_at = models.DateTimeField("lu le", null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "message"
        verbose_name_plural = "messages"
        indexes = [models.Index(fields=["conversation", "created_at"])]
        constraints = [
            models.CheckConstraint(name="message_non_vide", condition=~Q(contenu="")),
        ]

    def __str__(self) -> str:
        return f"Message #{self.pk} de {self.auteur}"
