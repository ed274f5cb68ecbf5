"""A python-socketio client manager whose pub/sub backend is the Channels channel layer.

``AsyncPubSubManager`` needs two methods: ``_publish`` (send to every server) and
``_listen`` (yield what the others sent). With ``channels_redis`` that crosses
processes and machines; with the in-memory layer there is one process, so publishing
is skipped (the local emit already reached every socket there is).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from channels.layers import DEFAULT_CHANNEL_LAYER, InMemoryChannelLayer, get_channel_layer
from engineio import packet as eio_packet
from socketio import packet as sio_packet
from socketio.async_pubsub_manager import AsyncPubSubManager

logger = logging.getLogger(__name__)

GROUP = "socketio"


class RoomIndex:
    """Each socket's rooms, kept beside python-socketio's room -> sockets map.

    Stock ``BaseManager.basic_disconnect`` copies the whole room map and tests every room
    for the leaving socket, and ``get_rooms`` walks every room: with ~3 rooms per socket a
    disconnect costs O(all sockets), so everyone leaving at once (a deploy, a network
    blip) is quadratic: a third of a 10,000-socket profile. With the index both are
    O(the socket's own rooms). Must come before the manager class in the bases.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.rooms_of: dict[tuple[str, str], set] = {}  # (namespace, sid) -> rooms, None included

    def basic_enter_room(self, sid, namespace, room, eio_sid=None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self.rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid, namespace, room) -> None:
        super().basic_leave_room(sid, namespace, room)
        rooms = self.rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self.rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid, namespace, **kwargs) -> None:
        # stock, with the socket's own rooms instead of a scan of every room
        for room in list(self.rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.rooms_of.pop((namespace, sid), None)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if sid in pending.get(namespace, ()):
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]

    def get_rooms(self, sid, namespace) -> list:
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

    async def _handle_emit(self, message: dict) -> None:
        if self.guards:
            message = self._guard(message)
        if message.get("callback") or message.get("binary") or self.server is None:
            await super()._handle_emit(message)
            return
        self.deliver(
            message.get("namespace") or "/", message.get("room"), message.get("skip_sid"),
            [message["event"], *message["data"]],
        )

    def deliver(self, namespace: str, room, skip_sid, packet_data: list) -> None:
        """Hand one encoded frame to every addressed socket, in one pass.

        python-socketio's ``AsyncManager.emit`` already encodes once, but then creates an
        asyncio Task per recipient just to put that frame on the socket's queue; with
        1,000 recipients that was the largest share of the fan-out cost. Here the shared
        packet is written to each open websocket at once, or put on the socket's
        (unbounded) queue for its transport (``realtime.transport.send_nowait``): the same
        order per socket, no task per recipient.
        """
        if namespace not in self.rooms:
            return
        pkt = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=packet_data)
        frame = eio_packet.Packet(eio_packet.MESSAGE, pkt.encode())
        frame.encode()  # engine.io caches the encoded string on the packet: once per event
        skip = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        sockets = self.server.eio.sockets
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            socket = sockets.get(eio_sid)
            if socket is not None and not socket.closed:
                socket.send_nowait(frame)

    def _guard(self, message: dict) -> dict:
        """Hold back live events from replaying sockets; drop those already replayed."""
        from .replay import event_id_of

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

    async def _publish(self, data: dict) -> None:
        if self.single_process:
            return
        message = {"type": "socketio.message", "payload": data}
        for attempt in range(3):
            try:
                await self.layer.group_send(self.channel, message)
                return
            except Exception:
                if attempt == 2:
                    raise
                logger.warning("channel layer publish failed, retrying", exc_info=True)
                await asyncio.sleep(0.2 * (attempt + 1))

    async def _listen(self) -> AsyncIterator[dict]:
        retry = 1.0
        channel = None
        while True:
            try:
                # Keep one channel across failures: what was sent to it meanwhile waits
                # there (until the layer's expiry) instead of being lost with a new one.
                if channel is None:
                    channel = await self.layer.new_channel(prefix="socketio")
                await self.layer.group_add(self.channel, channel)
                refresher = asyncio.ensure_future(self._refresh_membership(channel))
                retry = 1.0
                try:
                    while True:
                        message = await self.layer.receive(channel)
                        retry = 1.0
                        payload = message.get("payload")
                        if isinstance(payload, dict):
                            yield payload
                finally:
                    refresher.cancel()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Like AsyncRedisManager: log, back off, subscribe again.
                logger.exception("channel layer listen failed; retrying in %.0f s", retry)
                await asyncio.sleep(retry)
                retry = min(retry * 2, 60.0)

    async def _refresh_membership(self, channel: str) -> None:
        while True:
            await asyncio.sleep(self.group_refresh)
            try:
                await self.layer.group_add(self.channel, channel)
            except Exception:
                logger.warning("could not refresh channel layer group", exc_info=True)
