"""Replay on reconnect: ``auth: {token, lastEventId}`` gets every event addressed to the
socket after that id (within the retention window), in order, then live events, with
nothing missing or doubled across the switch.

While a socket replays, the manager buffers the live events addressed to it (see
``ChannelLayerManager._handle_emit``); after the replay they are flushed, skipping any
the replay already delivered. Event ids follow commit order (``events.send_events``
serialises event-writing transactions on PostgreSQL; SQLite serialises all writes), so
"after that id" is exactly "committed after that event".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .models import Event
from .selectors import events_after

GUARD_SECONDS = 60.0


@dataclass
class ReplayGuard:
    buffering: bool = True
    buffer: list[dict] = field(default_factory=list)
    delivered: set[int] = field(default_factory=set)


def parse_last_event_id(auth: object) -> int | None | bool:
    """The client's lastEventId: an int, None when absent, False when malformed."""
    if not isinstance(auth, dict) or auth.get("lastEventId") in (None, ""):
        return None
    value = auth["lastEventId"]
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        value = int(value)
    if isinstance(value, int) and 0 <= value < 2**63:
        return value
    return False


def events_since(rooms: list[str], last_event_id: int) -> list[tuple[str, dict]]:
    since = timezone.now() - timedelta(hours=settings.REPLAY_RETENTION_HOURS)
    events = events_after(rooms, last_event_id, since, settings.REPLAY_MAX_EVENTS)
    return [(e.name, e.payload()) for e in events]


def events_since_each(reads: list[tuple[list[str], int]]) -> list[list[tuple[str, dict]]]:
    """:func:`events_since` for several sockets ``(rooms, last_event_id)`` in one trip to a
    request thread (``realtime.server``'s replays, grouped in a storm)."""
    return [events_since(rooms, last_event_id) for rooms, last_event_id in reads]


def event_id_of(message: dict) -> int | None:
    data = message.get("data")
    payload = data[0] if isinstance(data, list) and data else data
    if isinstance(payload, dict):
        value = payload.get("eventId")
        return value if isinstance(value, int) else None
    return None


def catch_up_messages(since: float, limit: int) -> list[dict]:
    """The bus messages of the events committed after the last event created before
    ``since`` (wall time), in id (= commit) order, at most ``limit``.

    "Committed after" rather than "created after": a long transaction commits its events
    later than their ``created_at``, and ids follow commit order.
    """
    moment = datetime.fromtimestamp(since, UTC)
    floor = (Event.objects.filter(created_at__lt=moment).order_by("-pk")
             .values_list("pk", flat=True).first()) or 0
    events = list(Event.objects.filter(pk__gt=floor).order_by("pk")
                  .prefetch_related("rooms")[:limit])
    messages = []
    for event in events:
        rooms = None if event.to_everyone else sorted({r.room for r in event.rooms.all()})
        if rooms == []:
            continue  # addressed to nobody
        messages.append({
            "method": "emit", "event": event.name, "data": [event.payload()], "namespace": "/",
            "room": rooms, "skip_sid": None, "callback": None, "host_id": None,
            "created": event.created_at.timestamp(),
        })
    return messages
