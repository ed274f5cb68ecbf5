"""Writes on conversations: open, send, read."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit import journal
from medical_booking.errors import PermissionRefusee
from rendezvous.models import User
from rendezvous.selectors import can_message

from .models import Conversation, Message, Participation
from .signals import messages_read


def open_conversation(*, user: User, other: User | None) -> tuple[Conversation, bool]:
    """The two-party conversation between ``user`` and ``other``; created if new.

    ``other`` None (an unknown id) gets the very refusal of someone ``user`` may not write
    to: the answer must not tell which user ids exist.
    """
    if other is None or not can_message(user, other):
        raise PermissionRefusee(
            "Vous ne pouvez écrire qu'aux personnes avec qui vous avez un rendez-vous",
            code="conversation_interdite",
        )
    with transaction.atomic():
        # Lock both users in id order so two concurrent opens create one conversation.
        list(User.objects.select_for_update().filter(pk__in=[user.pk, other.pk]).order_by("pk"))
        existing = (
            Conversation.objects.filter(participation__user=user)
            .filter(participation__user=other)
            .first()
        )
        if existing:
            return existing, False
        conversation = Conversation.objects.create()
        Participation.objects.bulk_create(
            [Participation(conversation=conversation, user=u) for u in (user, other)]
        )
        journal.changement(acteur=user, action=journal.Action.CREATION,
                           objet_type=journal.TypeObjet.CONVERSATION, objet_id=conversation.pk,
                           patient_id=journal.patient_parmi((u.pk, u.role) for u in (user, other)))
        return conversation, True


def _participants(conversation: Conversation, user: User) -> list[tuple[int, str]]:
    """(id, role) of each participant, refusing a non-participant (one query)."""
    participants = list(conversation.participation_set.values_list("user_id", "user__role"))
    if user.pk not in {pk for pk, _ in participants}:
        raise PermissionRefusee("Vous ne participez pas à cette conversation")
    return participants


def send_message(*, auteur: User, conversation: Conversation, contenu: str) -> Message:
    participants = _participants(conversation, auteur)
    with transaction.atomic():
        message = Message.objects.create(conversation=conversation, auteur=auteur, contenu=contenu)
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=message.created_at)
        journal.changement(acteur=auteur, action=journal.Action.ENVOI, objet_type=journal.TypeObjet.MESSAGE,
                           objet_id=message.pk, patient_id=journal.patient_parmi(participants))
        return message


def mark_read(*, lecteur: User, conversation: Conversation) -> list[int]:
    """Mark every message from the others as read; returns the ids newly read."""
    participants = _participants(conversation, lecteur)
    with transaction.atomic():
        unread = conversation.messages.filter(lu_at__isnull=True).exclude(auteur=lecteur)
        rows = list(unread.values_list("pk", "auteur_id"))
        if not rows:
            return []
        ids = [pk for pk, _ in rows]
        lu_at = timezone.now()
        conversation.messages.filter(pk__in=ids).update(lu_at=lu_at)
        journal.changement(acteur=lecteur, action=journal.Action.ACCUSE_LECTURE,
                           objet_type=journal.TypeObjet.MESSAGE, objet_id=ids[0] if len(ids) == 1 else None,
                           objet_ids=ids, patient_id=journal.patient_parmi(participants))
        messages_read.send(
            sender=Conversation, conversation=conversation, lecteur=lecteur,
            message_ids=ids, auteurs=sorted({auteur for _, auteur in rows}), lu_at=lu_at,
        )
        return ids
