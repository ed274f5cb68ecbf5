"""Reads on the event log: a user's notification centre."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet

from rendezvous.models import User

from .models import Event, EventRoom, NotificationCursor, NotificationRead
from .rooms import auto_rooms


def events_addressed_to(rooms: list[str]) -> QuerySet[Event]:
    """Events sent to everyone or to one of ``rooms``: what a socket in them received."""
    addressed = EventRoom.objects.filter(event=OuterRef("pk"), room__in=rooms)
    return Event.objects.filter(Q(to_everyone=True) | Exists(addressed))


def notifications_of(user: User) -> QuerySet[Event]:
    """Events kept for the centre and addressed to one of the user's rooms, or to all."""
    return events_addressed_to(auto_rooms(user)).filter(
        notify=True, created_at__gte=user.date_joined
    )


def with_read_state(qs: QuerySet[Event], user: User) -> QuerySet[Event]:
    cursor = NotificationCursor.objects.filter(pk=user.pk).values_list("read_up_to", flat=True).first() or 0
    read = NotificationRead.objects.filter(event=OuterRef("pk"), user=user)
    return qs.annotate(lu_un=Exists(read)).annotate(
        lu=Q(lu_un=True) | Q(pk__lte=cursor)
    )


def unread_count(user: User) -> int:
    return with_read_state(notifications_of(user), user).filter(lu=False).count()
