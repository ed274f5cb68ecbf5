"""Gauges computed when ``/metrics`` is scraped, not kept up to date on every change:
sockets and rooms are counted from the Socket.IO server's own tables (nothing added to
the connect path), backlogs are one query each.

The scrape runs on a request thread while the event loop changes those tables: each is
copied in one C-level call (``list(dict.items())`` holds the GIL throughout), and a copy
that still races a resize is retried.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from realtime.server import sio
from rendezvous.reminders import reminder_backlog

logger = logging.getLogger(__name__)


def _copy(table: dict) -> list:
    for _ in range(5):
        try:
            return list(table.items())
        except RuntimeError:  # changed size during the copy
            continue
    return []


def room_count(namespace_rooms: dict) -> int:
    """Rooms with at least one socket, less the namespace's own room (``None``) and the
    room python-socketio gives each socket (named after its sid, holding only it)."""
    return sum(1 for room, members in _copy(namespace_rooms)
               if room is not None and not (len(members) == 1 and room in members))


class RealtimeCollector(Collector):
    def describe(self) -> list[GaugeMetricFamily]:
        """What ``collect`` yields, without reading anything (the registry asks at
        registration; without ``describe`` it would call ``collect`` then)."""
        return [GaugeMetricFamily(name, "") for name in
                ("realtime_sockets_connected", "realtime_engineio_sockets", "realtime_rooms")]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "realtime_sockets_connected",
            "Authenticated Socket.IO sockets connected to this process.", value=len(sio.sockets))
        yield GaugeMetricFamily(
            "realtime_engineio_sockets",
            "Engine.IO connections open on this process (authenticated or not yet).",
            value=len(sio.eio.sockets))
        rooms = sio.manager.rooms.get("/", {})
        yield GaugeMetricFamily(
            "realtime_rooms", "Rooms with at least one socket of this process (user, role, "
            "practice, conversation, doctor's slots; not the per-socket ones).", value=room_count(rooms))


class BacklogCollector(Collector):
    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("reminders_due_unsent", "")]  # no query at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            due = reminder_backlog()
        except Exception as exc:  # the database is away: the other metrics still answer
            logger.warning("metrics: reminder backlog unavailable (%s: %s)", type(exc).__name__, exc)
            return
        yield GaugeMetricFamily(
            "reminders_due_unsent",
            "Confirmed bookings with a reminder due and not handled yet (read from the database "
            "at scrape time; shared by every process).", value=due)


REGISTRY.register(RealtimeCollector())
REGISTRY.register(BacklogCollector())
