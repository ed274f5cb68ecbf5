"""A python-socketio client manager whose pub/sub backend is the Channels channel layer.

``AsyncPubSubManager`` needs two methods: ``_publish`` (send to every server) and
``_listen`` (yield what the others sent). With ``channels_redis`` that crosses
processes and machines; with the in-memory layer there is one process, so publishing
is skipped (the local emit already reached every socket there is: python-socketio
delivers an emit to this server's sockets at once, and the other servers get it from
the bus, skipping their own ``host_id``).

No silent loss when the bus fails. The event log (``realtime.Event``, written in the
transaction of the fact) is the source of truth; the bus only carries it. So:

- a publish that fails marks the bus down: further publishes are skipped (the event
  already reached this server's sockets), and a probe waits for the layer; once it
  answers, a ``catchup`` message asks every server to read the log since shortly before
  the failure;
- a listener that fails re-subscribes and, before reading anything new, catches up
  the same way for its own sockets;
- a catch-up delivers, through the live path, the logged events this server has not
  delivered (``delivered``: the ids of the last events it handed to its sockets), in
  id order; live events arriving meanwhile wait and follow, minus duplicates; a gap
  larger than ``REPLAY_MAX_EVENTS`` closes every transport instead, and clients
  reconnect with ``lastEventId`` replay;
- revocations that could not be published are kept and published once the bus is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import DEFAULT_CHANNEL_LAYER, InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from engineio import packet as eio_packet
from socketio import packet as sio_packet
from socketio.async_pubsub_manager import AsyncPubSubManager

import serving
from operations import metrics
from serving.transport import drop

from .replay import catch_up_messages, event_id_of

logger = logging.getLogger(__name__)

GROUP = "socketio"
# A publish that takes longer than this counts as failed (a blackholed Redis would
# otherwise hold the drain, and with it local delivery, for the OS connect timeout).
PUBLISH_TIMEOUT = 5.0
MAX_HELD_CONTROL = 10_000
# A catch-up skips sockets that connected more than this after the event was written: it
# was published before they were there (insert-to-publish takes milliseconds).
CONNECTED_AFTER_TOLERANCE = 2.0


class RecentIds:
    """The ids of the last ``size`` events handed to this server's sockets: O(1) add and
    membership, bounded memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._ids: set[int] = set()
        self._order: deque[int] = deque()

    def __contains__(self, event_id: int) -> bool:
        return event_id in self._ids

    def __len__(self) -> int:
        return len(self._order)

    def add(self, event_id: int) -> bool:
        """Remember the id; False if it was already there (a duplicate)."""
        if event_id in self._ids:
            return False
        self._ids.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self.size:
            self._ids.discard(self._order.popleft())
        return True


class PendingSids(dict):
    """The sockets of a namespace that are connecting (or disconnecting), in order, with
    the list methods python-socketio's ``BaseManager`` calls on them.

    python-socketio keeps them in a list and asks ``sid in`` it, a scan, at every connect
    and in ``is_connected``: with thousands of connects waiting for their token check (a
    reconnect storm) that is quadratic in the sockets (3 % of the event loop at 10,000).
    A dict answers in one step and keeps the order."""

    def append(self, sid: str) -> None:
        self[sid] = None

    def remove(self, sid: str) -> None:
        try:
            del self[sid]
        except KeyError:
            raise ValueError(f"{sid!r} is not pending") from None


class PendingTable(dict):
    """namespace -> ``PendingSids``: ``BaseManager`` stores a new list for a namespace
    (``pending_connect[namespace] = []``); it is kept as a ``PendingSids``."""

    def __init__(self, table: dict | None = None) -> None:
        super().__init__()
        for namespace, sids in (table or {}).items():
            self[namespace] = sids

    def __setitem__(self, namespace: str, sids) -> None:
        super().__setitem__(namespace, sids if isinstance(sids, PendingSids) else PendingSids.fromkeys(sids))


class RoomIndex:
    """Each socket's rooms, kept beside python-socketio's room -> sockets map.

    Stock ``BaseManager.basic_disconnect`` copies the whole room map and tests every room
    for the leaving socket, and ``get_rooms`` walks every room: with ~3 rooms per socket a
    disconnect costs O(all sockets), so everyone leaving at once (a deploy, a network
    blip) is quadratic: a third of a 10,000-socket profile. With the index both are
    O(the socket's own rooms). The connecting and disconnecting sockets are kept in
    ``PendingSids`` rather than lists, for the same reason. Must come before the manager
    class in the bases.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rooms_of: dict[tuple[str, str], set] = {}  # (namespace, sid) -> rooms, None included
        self.connected_at: dict[tuple[str, str], float] = {}  # (namespace, sid) -> wall time

    def basic_enter_room(self, sid, namespace, room, eio_sid=None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self.rooms_of.setdefault((namespace, sid), set()).add(room)
        if room is None:  # the namespace's own room: the socket is connecting
            self.connected_at[(namespace, sid)] = time.time()
            if type(self.pending_connect) is dict and serving.enabled(serving.SOCKETIO_OVERRIDES):
                self.pending_connect = PendingTable(self.pending_connect)
                self.pending_disconnect = PendingTable(self.pending_disconnect)

    def basic_leave_room(self, sid, namespace, room) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self.rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self.rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid, namespace, **kwargs) -> None:
        if not serving.enabled(serving.SOCKETIO_OVERRIDES):
            super().basic_disconnect(sid, namespace, **kwargs)  # leaves each room through ours
            self.rooms_of.pop((namespace, sid), None)
            self.connected_at.pop((namespace, sid), None)
            return
        # stock, with the socket's own rooms instead of a scan of every room
        for room in list(self.rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.rooms_of.pop((namespace, sid), None)
        self.connected_at.pop((namespace, sid), None)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if sid in pending.get(namespace, ()):
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]

    def get_rooms(self, sid, namespace) -> list:
        if not serving.enabled(serving.SOCKETIO_OVERRIDES):
            return super().get_rooms(sid, namespace)
        return [room for room in self.rooms_of.get((namespace, sid), ()) if room is not None]


class ChannelLayerManager(RoomIndex, AsyncPubSubManager):
    name = "channel_layer"

    def __init__(
        self,
        channel: str = GROUP,
        write_only: bool = False,
        logger: logging.Logger | None = None,
        alias: str = DEFAULT_CHANNEL_LAYER,
        group_refresh: float = 3600.0,
        json: Any = None,
    ) -> None:
        super().__init__(channel=channel, write_only=write_only, logger=logger, json=json)
        self.alias = alias
        # Channel layers expire group membership (a day by default): re-join well before.
        self.group_refresh = group_refresh
        self._layer = None
        # Sockets replaying missed events (see realtime.replay): sid -> ReplayGuard.
        self.guards: dict = {}
        # Set by the server: ``async (user_id, sessions, jtis, version)`` closing matching sockets.
        self.on_revoke = None
        # Catch-up state (see the module docstring); tracking starts with the listener.
        self._tracking = False
        self.delivered = RecentIds(0)
        self._catchup_buffer: list[dict] | None = None
        self.publish_down_since: float | None = None  # wall time of the first failed publish
        self._skipped = 0
        self._held_control: deque[dict] = deque()
        self._probe_task: asyncio.Task | None = None
        self.stats = {"catchups": 0, "caught_up": 0, "duplicates_skipped": 0, "reconnect_all": 0}

    @property
    def layer(self):
        if self._layer is None:
            self._layer = get_channel_layer(self.alias)
            if self._layer is None:
                raise RuntimeError("CHANNEL_LAYERS is not configured")
        return self._layer

    @property
    def single_process(self) -> bool:
        return isinstance(self.layer, InMemoryChannelLayer)

    def initialize(self) -> None:
        super().initialize()
        # One process (in-memory layer): nothing can be lost between servers.
        self._tracking = not self.write_only and not self.single_process
        if self._tracking:
            self.delivered = RecentIds(2 * settings.REPLAY_MAX_EVENTS + 1000)

    # ---- local delivery ------------------------------------------------------------------

    async def _handle_emit(self, message: dict) -> None:
        if self._tracking:
            event_id = event_id_of(message)
            if event_id is not None:
                if self._catchup_buffer is not None:  # a catch-up is delivering older events
                    self._catchup_buffer.append(message)
                    return
                if not self.delivered.add(event_id):
                    self.stats["duplicates_skipped"] += 1
                    return
        await self._emit_here(message)

    async def _emit_here(self, message: dict) -> int:
        """Deliver to this server's sockets; how many sockets got it (when known)."""
        if self.guards:
            message = self._guard(message)
        if message.get("callback") or message.get("binary") or self.server is None:
            await super()._handle_emit(message)
            return 0
        sent = await self.deliver(
            message.get("namespace") or "/", message.get("room"), message.get("skip_sid"),
            [message["event"], *message["data"]],
        )
        metrics.observe_delivery(message)
        return sent

    async def deliver(self, namespace: str, room, skip_sid, packet_data: list) -> int:
        """Hand one encoded frame to every addressed socket, in one pass.

        python-socketio's ``AsyncManager.emit`` already encodes once, but then creates an
        asyncio Task per recipient just to put that frame on the socket's queue; with
        1,000 recipients that was the largest share of the fan-out cost. Here the shared
        packet is written to each open websocket at once, or put on the socket's
        (unbounded) queue for its transport (``serving.transport.send_nowait``): the same
        order per socket, no task per recipient.

        That reaches into python-engineio's sockets and replaces python-socketio's
        delivery, so it runs only where ``serving`` installed both for the versions it was
        written for; elsewhere python-socketio's own local emit delivers (no bus, no guard).
        """
        if namespace not in self.rooms:
            return 0
        if not serving.enabled(serving.ONE_FRAME_DELIVERY):
            skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
            recipients = sum(1 for sid, _ in self.get_participants(namespace, room) if sid not in skip)
            await self.emit(packet_data[0], tuple(packet_data[1:]), namespace=namespace, room=room,
                            skip_sid=skip_sid, ignore_queue=True)
            metrics.count_delivered(packet_data[0], recipients)
            return recipients
        pkt = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=packet_data)
        frame = eio_packet.Packet(eio_packet.MESSAGE, pkt.encode())
        frame.encode()  # engine.io caches the encoded string on the packet: once per event
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        sockets = self.server.eio.sockets
        sent = failed = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is not None and not socket.closed:
                try:
                    socket.send_nowait(frame)
                except Exception:  # one socket's failure must not cost the rest of the room the event
                    failed += 1
                    if failed == 1:
                        logger.exception("delivery of %s to socket %s failed", packet_data[0], sid)
                    continue
                sent += 1
        if failed > 1:
            logger.error("delivery of %s failed for %d sockets", packet_data[0], failed)
        metrics.count_delivered(packet_data[0], sent)
        return sent

    def _guard(self, message: dict) -> dict:
        """Hold back live events from replaying sockets; drop those already replayed."""
        skip = message.get("skip_sid") or []
        skip = list(skip) if isinstance(skip, list) else [skip]
        event_id = event_id_of(message)
        for sid, guard in self.guards.items():
            if guard.buffering:
                if self._addressed(sid, message):
                    guard.buffer.append(message)
                    skip.append(sid)
            elif event_id is not None and event_id in guard.delivered:
                skip.append(sid)
        return {**message, "skip_sid": skip}

    def _addressed(self, sid: str, message: dict) -> bool:
        room = message.get("room")
        if room is None:
            return True
        mine = self.rooms_of.get((message.get("namespace") or "/", sid), ())
        return any(name in mine for name in ([room] if isinstance(room, str) else room))

    # ---- catch-up from the event log -------------------------------------------------------

    async def catch_up(self, since: float) -> None:
        """Deliver to this server's sockets the logged events committed since ``since``
        (wall time) that it has not delivered yet, in id order, through the live path."""
        if not self._tracking or self.server is None:
            return
        limit = settings.REPLAY_MAX_EVENTS
        self._catchup_buffer = buffered = []
        delivered = sockets = 0
        try:
            try:
                messages = await sync_to_async(catch_up_messages)(since, limit + 1)
            except Exception as exc:
                logger.warning("bus catch-up: could not read the event log (%s: %s); will retry",
                               type(exc).__name__, exc)
                raise
            if len(messages) > limit:
                # Too large a gap to push: every client reconnects and replays from its
                # own lastEventId (bounded per socket the same way).
                logger.warning("bus catch-up: more than %d events since the failure; "
                               "closing every transport so that clients replay", limit)
                self.stats["reconnect_all"] += 1
                await self._reconnect_everyone()
                return
            for message in messages:
                if self.delivered.add(event_id_of(message)):
                    reached = await self._emit_here(self._not_to_later_sockets(message))
                    delivered += bool(reached)
                    sockets += reached
        finally:
            self._catchup_buffer = None
            for message in buffered:  # live events that arrived meanwhile, minus duplicates
                await self._handle_emit(message)
            self.stats["catchups"] += 1
            self.stats["caught_up"] += sockets
        if delivered:
            logger.warning("bus catch-up: delivered %d events the bus had lost (%d socket deliveries)",
                           delivered, sockets)

    def _not_to_later_sockets(self, message: dict) -> dict:
        """Skip the sockets that connected after the event: it was never theirs to miss
        (replay gives them what they ask for with lastEventId)."""
        created = message.pop("created", None)
        if created is None:
            return message
        namespace = message.get("namespace") or "/"
        later = [sid for sid, _ in self.get_participants(namespace, message.get("room"))
                 if self.connected_at.get((namespace, sid), 0.0) > created + CONNECTED_AFTER_TOLERANCE]
        return {**message, "skip_sid": later} if later else message

    async def _reconnect_everyone(self) -> None:
        for socket in list(self.server.eio.sockets.values()):
            await drop(socket)

    # ---- revocations ----------------------------------------------------------------------

    async def revoke(self, user_id: int, sessions: list[str] = (), jtis: list[str] = (),
                     version: int | None = None) -> None:
        """Close the user's sockets (of those sessions/tokens, if any given; opened with a
        token older than ``version``, if given) here and on every other server."""
        message = {"method": "revoke", "user": user_id, "sessions": list(sessions),
                   "jtis": list(jtis), "version": version, "host_id": self.host_id}
        await self._apply_revocation(message)
        await self._publish(message)

    async def _apply_revocation(self, message: dict) -> None:
        if self.on_revoke is None or self.server is None or not isinstance(message.get("user"), int):
            return
        version = message.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            version = None  # none given (a session's logout), or from a server before issue 14
        await self.on_revoke(message["user"], list(message.get("sessions") or ()),
                             list(message.get("jtis") or ()), version)

    # ---- the channel layer ----------------------------------------------------------------

    async def _send(self, data: dict) -> None:
        message = {"type": "socketio.message", "payload": data}
        try:
            await asyncio.wait_for(self.layer.group_send(self.channel, message), PUBLISH_TIMEOUT)
        except Exception:
            # Once more at once: after a Redis restart the first command on a pooled
            # connection fails, and the next one reconnects.
            await asyncio.wait_for(self.layer.group_send(self.channel, message), PUBLISH_TIMEOUT)

    async def _publish(self, data: dict) -> None:
        if self.single_process:
            return
        if self.publish_down_since is None:
            try:
                await self._send(data)
                return
            except Exception as exc:
                logger.warning("channel layer publish failed (%s: %s); the other servers will "
                               "catch up from the event log once it is back", type(exc).__name__, exc)
                self._bus_down()
        # The bus is down: this server's sockets already have the event, the others catch
        # up from the log; a revocation is kept and published once the bus is back.
        self._skipped += 1
        if data.get("method") == "revoke":
            if len(self._held_control) >= MAX_HELD_CONTROL:
                self._held_control.popleft()
            self._held_control.append(data)

    def _bus_down(self) -> None:
        if self.publish_down_since is None:
            self.publish_down_since = time.time()
        if self._probe_task is None or self._probe_task.done():
            self._probe_task = asyncio.ensure_future(self._probe())

    async def _probe(self) -> None:
        """Wait for the layer, then ask every server to catch up, then publish what was held."""
        delay = 0.25
        while self.publish_down_since is not None:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            since = self.publish_down_since
            # From here new publishes are attempted again: any event skipped so far was
            # committed before the catchup message leaves, so the others' read sees it.
            self.publish_down_since = None
            try:
                await self._send({"method": "catchup", "host_id": self.host_id,
                                  "since": since - settings.BUS_CATCHUP_MARGIN_SECONDS})
            except Exception:
                self.publish_down_since = min(since, self.publish_down_since or since)
                continue
            logger.warning("channel layer publish is back after %.1f s (%d messages not published "
                           "meanwhile; the other servers catch up from the event log)",
                           time.time() - since, self._skipped)
            self._skipped = 0
            while self._held_control and self.publish_down_since is None:
                await self._publish(self._held_control.popleft())

    async def _listen(self) -> AsyncIterator[dict]:
        retry = 0.25
        channel = None
        lost_since: float | None = None  # wall time this listener stopped hearing the bus
        while True:
            try:
                # Keep one channel across failures: what was sent to it meanwhile waits
                # there (until the layer's expiry) instead of being lost with a new one.
                if channel is None:
                    channel = await self.layer.new_channel(prefix="socketio")
                await self.layer.group_add(self.channel, channel)
                refresher = asyncio.ensure_future(self._refresh_membership(channel))
                try:
                    if lost_since is not None:
                        # Subscribed again: from now on every publish reaches us. What was
                        # published meanwhile is in the log; deliver it before reading on.
                        logger.warning("channel layer listener is back after %.1f s; catching up",
                                       time.time() - lost_since)
                        await self.catch_up(lost_since - settings.BUS_CATCHUP_MARGIN_SECONDS)
                        lost_since = None
                    retry = 0.25
                    while True:
                        message = await self.layer.receive(channel)
                        payload = message.get("payload")
                        if not isinstance(payload, dict):
                            continue
                        method = payload.get("method")
                        if method == "catchup":
                            since = payload.get("since")
                            if payload.get("host_id") != self.host_id and isinstance(since, int | float):
                                await self.catch_up(float(since))
                            continue
                        if method == "revoke":
                            if payload.get("host_id") != self.host_id:
                                await self._apply_revocation(payload)
                            continue
                        yield payload
                finally:
                    refresher.cancel()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if lost_since is None:
                    lost_since = time.time()
                    logger.warning("channel layer listener failed (%s: %s); subscribing again",
                                   type(exc).__name__, exc)
                await asyncio.sleep(retry)
                retry = min(retry * 2, 2.0)

    async def _refresh_membership(self, channel: str) -> None:
        while True:
            await asyncio.sleep(self.group_refresh)
            try:
                await self.layer.group_add(self.channel, channel)
            except Exception:
                logger.warning("could not refresh channel layer group", exc_info=True)
