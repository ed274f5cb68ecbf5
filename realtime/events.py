"""``send_event``: the one choke point for real-time fan-out.

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

from .bus import bus
from .catalogue import Emission
from .models import Event, EventRoom


def to_json_data(data: Any) -> Any:
    """Plain JSON types (DRF's ReturnDict, datetimes, UUIDs...) for the log and the wire."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def payload_of(event: Event) -> dict[str, Any]:
    return {
        "type": event.type,
        "message": event.message,
        "data": event.data,
        "eventId": event.pk,
        "emittedAt": event.created_at.isoformat(),
    }


def send_event(emission: Emission) -> Event:
    event = Event.objects.create(
        name=emission.kind.name,
        type=emission.type,
        message=emission.message,
        data=to_json_data(emission.data),
        notify=emission.kind.notify,
        to_everyone=emission.rooms is None,
    )
    rooms = list(dict.fromkeys(emission.rooms or []))
    if rooms:
        EventRoom.objects.bulk_create([EventRoom(event=event, room=room) for room in rooms])
    transaction.on_commit(partial(bus.publish, event.name, payload_of(event), rooms or None))
    return event


def send_events(emissions: list[Emission]) -> list[Event]:
    return [send_event(e) for e in emissions]
