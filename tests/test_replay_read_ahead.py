"""A reconnecting socket's missed events are read on its token check's trip to a request
thread (realtime.replay.ReadAhead): one trip instead of two. The read is complete unless
an event reached the server between it and the socket joining its rooms; then the replay
reads again, so that event is not lost. The server's own connect handler and manager, on
this test's loop; the event arrives through the manager's delivery path."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from realtime import replay, services
from realtime import server as rt
from realtime.rooms import role_room
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def broadcast(admin, message: str):
    return services.broadcast(acteur=admin, message=message, role="PATIENT")


async def reconnect(monkeypatch, *, event_during_read: bool) -> tuple[list[int], list[int], int]:
    """(event ids replayed to the socket, ids that must be, second reads)."""
    admin = await sync_to_async(f.superadmin)()
    alice = await sync_to_async(f.patient)()
    token = await sync_to_async(f.access)(alice)
    before = await sync_to_async(broadcast)(admin, "avant")
    missed = await sync_to_async(broadcast)(admin, "absent")

    server = rt.create_server()
    manager = server.manager
    replayed: list[int] = []

    async def deliver(namespace, room, skip_sid, packet_data):
        if room == sid:  # the replay writes to the socket's own room
            replayed.append(packet_data[1]["eventId"])
        return 1

    manager.deliver = deliver
    loop = asyncio.get_running_loop()
    late: list[int] = []
    real_read = replay.events_since

    def read_then_an_event_arrives(rooms, last_event_id):
        events = real_read(rooms, last_event_id)
        if event_during_read:
            # committed after the read, and handed to this server before the socket is
            # in its rooms: neither in the read nor held back by the socket's guard
            event = broadcast(admin, "pendant")
            late.append(event.pk)
            message = {"method": "emit", "event": event.name, "data": [event.payload()], "namespace": "/",
                       "room": role_room("PATIENT")}
            asyncio.run_coroutine_threadsafe(manager._emit_here(message), loop).result(10)
        return events

    second_reads: list[int] = []

    def read_again(rooms, last_event_id):
        second_reads.append(last_event_id)
        return real_read(rooms, last_event_id)

    monkeypatch.setattr(replay, "events_since", read_then_an_event_arrives)
    monkeypatch.setattr(rt, "events_since", read_again)

    sid = await manager.pre_connect("eio-alice", "/")
    assert await server.handlers["/"]["connect"](sid, {}, {"token": token, "lastEventId": before.pk}) is None
    for _ in range(200):
        guard = manager.guards.get(sid)
        if guard is not None and not guard.buffering:
            break
        await asyncio.sleep(0.02)
    await server.handlers["/"]["disconnect"](sid, "client disconnect")
    return replayed, [missed.pk, *late], len(second_reads)


async def test_a_quiet_reconnect_replays_from_the_read_ahead_in_one_trip(monkeypatch):
    replayed, expected, second_reads = await reconnect(monkeypatch, event_during_read=False)
    assert replayed == expected and len(expected) == 1
    assert second_reads == 0


async def test_an_event_arriving_between_the_read_and_the_rooms_is_read_again_not_lost(monkeypatch):
    replayed, expected, second_reads = await reconnect(monkeypatch, event_during_read=True)
    assert replayed == expected and len(expected) == 2  # the missed event, then the one in between
    assert second_reads == 1
