"""``send_events``: the one choke point for real-time fan-out.

The event is written to the log inside the caller's transaction (its id is the
payload's ``eventId``) and handed to the bus only once that transaction commits: a
rolled-back write emits nothing and leaves no trace.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from operations import metrics

from .bus import bus
from .catalogue import Emission
from .models import Event, EventRoom
from .signals import events_written


def to_json_data(data: Any) -> Any:
    """Plain JSON types (DRF's ReturnDict, datetimes, UUIDs...) for the log and the wire."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


# Any constant: the advisory lock that makes event ids follow commit order on PostgreSQL.
EVENT_ORDER_LOCK = 0x6D625F6576  # "mb_ev"


def _hold_event_order_lock() -> None:
    """Serialise event-writing transactions from their first event to their commit.

    Ids come from a sequence at insert time; without this, two concurrent transactions
    could commit in the opposite order of their ids, and a client replaying "after id N"
    would miss the one with the smaller id. SQLite already serialises every write.
    """
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_ORDER_LOCK])


def send_events(emissions: list[Emission]) -> list[Event]:
    """Write the emissions of one domain fact together (two INSERTs, however many events)
    and publish each, in order, once the transaction commits."""
    if not emissions:
        return []
    # Emissions of one fact often share their data (a booking to the patient and to the
    # doctor): convert each distinct object once.
    converted: dict[int, Any] = {}
    for e in emissions:
        if id(e.data) not in converted:
            converted[id(e.data)] = to_json_data(e.data)
    # Joins the caller's transaction (no savepoint), or makes one of its own.
    with transaction.atomic(savepoint=False):
        _hold_event_order_lock()
        events = Event.objects.bulk_create([
            Event(
                name=e.kind.name, type=e.type, message=e.message, data=converted[id(e.data)],
                notify=e.kind.notify, to_everyone=e.rooms is None,
            )
            for e in emissions
        ])
        addressed = [list(dict.fromkeys(e.rooms or [])) for e in emissions]
        EventRoom.objects.bulk_create([
            EventRoom(event=event, room=room)
            for event, rooms in zip(events, addressed, strict=True) for room in rooms
        ])
        for event, rooms in zip(events, addressed, strict=True):
            transaction.on_commit(partial(bus.publish, event.name, event.payload(), rooms or None))
        transaction.on_commit(partial(metrics.count_published, [event.name for event in events]))
        # Outside the app (e-mail, SMS): the outbox writes its rows here, in this transaction.
        events_written.send(sender=Event, events=events, rooms=addressed)
    return events
