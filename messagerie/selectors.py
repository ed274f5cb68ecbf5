from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from rendezvous.models import Role, User

from .models import Conversation


def conversations_of(user: User) -> QuerySet[Conversation]:
    return (
        Conversation.objects.filter(participation__user=user)
        .prefetch_related(Prefetch("participants", queryset=User.objects.order_by("id")))
        .annotate(
            non_lus=Count(
                "messages",
                filter=Q(messages__lu_at__isnull=True) & ~Q(messages__auteur=user),
            )
        )
        # Explicit: Meta.ordering is dropped from GROUP BY queries, and pages must be stable.
        .order_by("-updated_at", "-id")
    )


def is_participant(user: User, conversation_id: int) -> bool:
    return Conversation.objects.filter(pk=conversation_id, participation__user=user).exists()


def may_join_conversation(user: User, conversation_id: int) -> bool:
    """Participants, admins of a participant's practice, super admins."""
    if user.role == Role.SUPERADMIN:
        return Conversation.objects.filter(pk=conversation_id).exists()
    q = Q(participation__user=user)
    if user.role == Role.ADMINCABINET and user.cabinet_id:
        q |= Q(participation__user__cabinet_id=user.cabinet_id)
    return Conversation.objects.filter(q, pk=conversation_id).exists()
