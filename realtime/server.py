"""The Socket.IO server: authentication, automatic rooms, join/leave, and nothing else.

Events reach sockets through ``realtime.bus``; client-sent input is bounded (size,
rate, room count) and every refusal is an acknowledgement, never a disconnect.

``Server`` overrides one python-socketio internal, ``_handle_eio_message`` (the packet
checks). It is on only where ``serving`` installed its python-socketio group (the version
it was written for, in the serving process); elsewhere, and in tests and commands,
python-socketio's own dispatch runs. Everything else here uses python-socketio's public
API, so it holds on any version.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from dataclasses import dataclass, field

import socketio
from django.conf import settings
from socketio import packet as sio_packet

import serving
from messagerie.selectors import may_join_conversation
from rendezvous.models import User
from serving import client_errors, transport
from serving.batch import Batched

from .auth import TOKEN_INVALID, TOKEN_REQUIRED, authenticate_tokens, extract_token
from .bus import bus
from .manager import ChannelLayerManager
from .replay import GUARD_SECONDS, ReplayGuard, event_id_of, events_since_each, parse_last_event_id
from .rooms import auto_rooms, user_room

logger = logging.getLogger(__name__)

MAX_ROOM_LENGTH = 100
REVOCATION_MEMORY_SECONDS = 10.0
# Matched with ``fullmatch``: ``$`` also matches before a final newline, which made
# ``conversation:1\n`` a distinct, joinable room.
CONVERSATION_ROOM = re.compile(r"conversation:([1-9][0-9]{0,17})")
# Slot changes of one doctor: public slot data, any authenticated user may follow them.
CRENEAUX_ROOM = re.compile(r"creneaux:[1-9][0-9]{0,17}")


def ack(type_: str, message: str, code: str | None = None, **data) -> dict:
    body = {"type": type_, "message": message, "data": data}
    if code:
        body["code"] = code
    return body


def refuse(error: tuple[str, str], **data) -> dict:
    """An error acknowledgement: the French message and its machine-readable code."""
    return ack("error", error[0], code=error[1], **data)


ERR_ROOM_INVALID = ("Nom de room invalide", "room_invalide")
ERR_ROOM_FORBIDDEN = ("Accès refusé à cette room", "room_interdite")
ERR_ROOM_AUTOMATIC = ("Impossible de quitter une room automatique", "room_automatique")
ERR_ROOM_NOT_JOINED = ("Vous n'êtes pas dans cette room", "room_non_rejointe")
ERR_TOO_MANY_ROOMS = ("Trop de rooms rejointes", "trop_de_rooms")
ERR_RATE = ("Trop de requêtes, réessayez dans un instant", "trop_de_requetes")
ERR_LAST_EVENT_ID = "lastEventId invalide"
ERR_UNKNOWN_EVENT = ("Événement inconnu", "evenement_inconnu")


# A binary packet announces its attachments; each one is held until the last arrives.
MAX_ATTACHMENTS = 10
# Acknowledgement ids are JavaScript numbers on the client side.
MAX_ACK_ID = 2**53


class InvalidPacket(Exception):
    """A Socket.IO packet that does not decode, or makes no sense in the socket's state."""


class Server(socketio.AsyncServer):
    async def _handle_eio_message(self, eio_sid, data):
        """python-socketio's dispatch, after checking the packet as the protocol (and
        socket.io's own parser) does. A packet that does not decode, or makes no sense in
        the socket's state, closes that connection with one rate-limited log line:
        python-socketio raised there, and engine.io logged a traceback per packet while
        the connection stayed open."""
        if not serving.enabled(serving.SOCKETIO_OVERRIDES):
            return await super()._handle_eio_message(eio_sid, data)
        try:
            pkt = self._checked_packet(eio_sid, data)
        except InvalidPacket as exc:
            self._binary_packet.pop(eio_sid, None)
            client_errors.report("socket.io socket %s: %s %s; connection closed", eio_sid, exc,
                                 client_errors.excerpt(data))
            await transport.drop(self.eio.sockets.get(eio_sid))
            return
        if pkt is None:
            return  # a binary attachment, more to come
        kind = pkt.packet_type
        if kind == sio_packet.CONNECT:
            await self._handle_connect(eio_sid, pkt.namespace, pkt.data)
        elif kind == sio_packet.DISCONNECT:
            await self._handle_disconnect(eio_sid, pkt.namespace, self.reason.CLIENT_DISCONNECT)
        elif kind in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            await self._handle_event(eio_sid, pkt.namespace, pkt.id, pkt.data)
        else:
            await self._handle_ack(eio_sid, pkt.namespace, pkt.id, pkt.data)

    def _checked_packet(self, eio_sid: str, data: object):
        """The decoded packet, None while a binary packet waits for attachments, or
        InvalidPacket."""
        pending = self._binary_packet.get(eio_sid)
        if pending is not None:
            if not isinstance(data, bytes):
                raise InvalidPacket("text where a binary attachment was expected")
            try:
                complete = pending.add_attachment(data)
            except Exception as exc:  # placeholders of the client's: any failure is theirs
                raise InvalidPacket("bad binary attachment") from exc
            if not complete:
                return None
            del self._binary_packet[eio_sid]
            self._check_data(pending)
            return pending
        if not isinstance(data, str) or not data or data[0] not in "0123456":
            raise InvalidPacket("not a Socket.IO packet")
        try:
            pkt = self.packet_class(encoded_packet=data)
        except Exception as exc:  # parsing the client's text: any failure is theirs
            raise InvalidPacket("undecodable packet") from exc
        namespace = pkt.namespace or "/"
        if not namespace.startswith("/"):
            raise InvalidPacket("bad namespace")
        kind = pkt.packet_type
        connected = self.manager.sid_from_eio_sid(eio_sid, namespace) is not None
        if kind in (sio_packet.CONNECT, sio_packet.DISCONNECT) and pkt.id is not None:
            raise InvalidPacket("acknowledgement id on a CONNECT or DISCONNECT")
        if kind == sio_packet.CONNECT:
            if pkt.data is not None and not isinstance(pkt.data, dict):
                raise InvalidPacket("CONNECT payload is not an object")
            if connected:
                raise InvalidPacket("CONNECT on a connected namespace")
            return pkt
        if not connected:
            raise InvalidPacket("packet for a namespace that is not connected")
        if kind == sio_packet.DISCONNECT:
            if pkt.data is not None:
                raise InvalidPacket("DISCONNECT with a payload")
            return pkt
        if kind == sio_packet.CONNECT_ERROR:
            raise InvalidPacket("CONNECT_ERROR from a client")
        if pkt.id is not None and not 0 <= pkt.id < MAX_ACK_ID:
            raise InvalidPacket("acknowledgement id out of range")
        if kind in (sio_packet.ACK, sio_packet.BINARY_ACK):
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
            if pkt.id is None or pkt.id not in self.manager.callbacks.get(sid, {}):
                raise InvalidPacket("acknowledgement of nothing we asked")
        if kind in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
            if not 1 <= pkt.attachment_count <= MAX_ATTACHMENTS:
                raise InvalidPacket("bad attachment count")
            self._check_data(pkt)
            self._binary_packet[eio_sid] = pkt
            return None
        self._check_data(pkt)
        return pkt

    @staticmethod
    def _check_data(pkt) -> None:
        data = pkt.data
        if pkt.packet_type in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            if not (isinstance(data, list) and data and isinstance(data[0], str)):
                raise InvalidPacket("event payload is not [name, ...]")
        elif not isinstance(data, list):
            raise InvalidPacket("acknowledgement payload is not a list")


def origin_allowed(origin: str | None, environ: dict) -> bool:
    """The allow-list only (``CORS_ALLOWED_ORIGINS``, as for REST).

    An ``Origin`` equal to the request's ``Host`` is not trusted on its own: the Host
    header is the client's to choose, so that rule let any site through the allow-list.
    The web front served at ``/`` has its origin in the list (the default covers
    ``make run``). Requests without an Origin (non-browser clients) are not checked.
    """
    return settings.CORS_ALLOW_ALL_ORIGINS or origin in settings.CORS_ALLOWED_ORIGINS



@dataclass
class SocketState:
    user_id: int
    auto: frozenset[str]
    session: str | None = None  # the token's session (logout closes its sockets)
    jti: str | None = None
    version: int = 0  # the token's version (a revocation of the user closes older ones)
    joined: set[str] = field(default_factory=set)
    tokens: float = 0.0
    stamp: float = 0.0
    expiry: asyncio.TimerHandle | None = None

    def allow(self) -> bool:
        """Token bucket: a burst, then a steady rate of client requests."""
        now = time.monotonic()
        rate, burst = settings.SOCKETIO_RATE_PER_SECOND, settings.SOCKETIO_RATE_BURST
        self.tokens = min(burst, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def create_server() -> socketio.AsyncServer:
    server = Server(
        async_mode="asgi",
        client_manager=ChannelLayerManager(),
        cors_allowed_origins=origin_allowed,
        ping_interval=settings.SOCKETIO_PING_INTERVAL,
        ping_timeout=settings.SOCKETIO_PING_TIMEOUT,
        max_http_buffer_size=settings.SOCKETIO_MAX_PAYLOAD,
        logger=False,
        engineio_logger=False,
    )
    sockets: dict[str, SocketState] = {}
    # A storm's database reads, grouped while earlier ones are on a request thread: the
    # connects' token checks (many per query) and the replays (many per trip). Each kind
    # holds at most two request threads, so thousands of replays never queue up in front
    # of the token checks (or of HTTP requests).
    token_checks = Batched(authenticate_tokens)
    replay_reads = Batched(events_since_each)
    # Revocations applied in the last seconds: a socket whose token was checked just before
    # one (its connect handler still running) is refused at the end of its connect.
    revocations: deque[tuple[float, int, frozenset[str], int | None]] = deque()

    def hit(keys: frozenset[str], below: int | None, session: str | None, jti: str | None,
            version: int) -> bool:
        """Does a revocation (of ``keys``, or of versions ``< below``, or of everything) cover
        a token? A whole-user revocation with a version spares the tokens issued after it:
        the new session a password change returns, a log-in right after "log out everywhere"."""
        if below is not None:
            return version < below
        return not keys or session in keys or jti in keys

    def revoked(user_id: int, session: str | None, jti: str | None, version: int, since: float) -> bool:
        """Revoked since the token check began? One received before it was committed before
        it (published after commit), so the check itself refused an old token."""
        horizon = time.monotonic() - REVOCATION_MEMORY_SECONDS
        while revocations and revocations[0][0] < horizon:
            revocations.popleft()
        return any(user == user_id and at >= since and hit(keys, below, session, jti, version)
                   for at, user, keys, below in revocations)

    async def revoke_here(user_id: int, sessions: list[str], jtis: list[str],
                          version: int | None = None) -> None:
        """Close this server's sockets of the user (of those sessions or tokens, if given;
        opened with a token older than ``version``, if given)."""
        keys = frozenset(sessions) | frozenset(jtis)
        revocations.append((time.monotonic(), user_id, keys, version))
        targets = [sid for sid, _ in server.manager.get_participants("/", user_room(user_id))]
        for sid in targets:
            state = sockets.get(sid)
            if state is None or state.user_id != user_id:
                continue
            if not hit(keys, version, state.session, state.jti, state.version):
                continue
            await server.disconnect(sid)

    server.manager.on_revoke = revoke_here

    def expire(sid: str) -> None:
        """The socket's token expired: disconnect it (a timer callback, one per socket)."""
        asyncio.ensure_future(server.disconnect(sid))

    def lifecycle_name_sent(sid: str, event: str) -> dict | None:
        """The answer to a client-sent event named like a lifecycle event, or None.

        python-socketio dispatches a client's ``connect``/``disconnect`` event to the
        lifecycle handler; run, it would drop the socket's state and expiry timer while the
        socket stays connected in its rooms. A real (dis)connection runs while the socket
        is pending, a client's event only once it is connected.
        """
        if not server.manager.is_connected(sid, "/"):
            return None
        return unknown(event, sid)

    @server.event
    async def connect(sid, environ=None, auth=None, *extra):
        sent = lifecycle_name_sent(sid, "connect")
        if sent is not None:
            return sent
        raw = extract_token(environ, auth)
        if raw is None:
            raise socketio.exceptions.ConnectionRefusedError(TOKEN_REQUIRED)
        checked_at = time.monotonic()
        identity = await token_checks(raw)
        if identity is None:
            raise socketio.exceptions.ConnectionRefusedError(TOKEN_INVALID)
        last_event_id = parse_last_event_id(auth)
        if last_event_id is False:
            raise socketio.exceptions.ConnectionRefusedError(ERR_LAST_EVENT_ID)
        user = identity.user
        if revoked(user.pk, identity.session, identity.jti, identity.version, since=checked_at):
            # revoked while its token was checked (from here to its rooms nothing awaits)
            raise socketio.exceptions.ConnectionRefusedError(TOKEN_INVALID)
        rooms = auto_rooms(user)
        state = SocketState(
            user_id=user.pk, auto=frozenset(rooms), session=identity.session, jti=identity.jti,
            version=identity.version,
            tokens=settings.SOCKETIO_RATE_BURST, stamp=time.monotonic(),
        )
        loop = asyncio.get_running_loop()
        delay = max(0.0, identity.exp - time.time())
        state.expiry = loop.call_later(delay, expire, sid)
        sockets[sid] = state
        if last_event_id is not None:
            # Buffer live events for this socket before it joins its rooms.
            server.manager.guards[sid] = ReplayGuard()
        for room in rooms:
            await server.enter_room(sid, room)
        if last_event_id is not None:
            # Runs after the CONNECT packet is queued, so replayed events follow it.
            server.start_background_task(replay, sid, rooms, last_event_id)

    async def replay(sid: str, rooms: list[str], last_event_id: int) -> None:
        manager = server.manager
        guard = manager.guards.get(sid)
        if guard is None:
            return
        try:
            missed = await replay_reads((rooms, last_event_id))
            for name, payload in missed:
                await manager.deliver("/", sid, None, [name, payload])
                guard.delivered.add(payload["eventId"])
            while guard.buffer:  # live events that arrived meanwhile, minus duplicates
                message = guard.buffer.pop(0)
                event_id = event_id_of(message)
                if event_id is not None and event_id in guard.delivered:
                    continue
                await manager.deliver("/", sid, None, [message["event"], *message["data"]])
                if event_id is not None:
                    guard.delivered.add(event_id)
        finally:
            guard.buffering = False
            guard.buffer.clear()
        # Keep dropping late duplicates (published after the replay read them) a while.
        await asyncio.sleep(GUARD_SECONDS)
        if manager.guards.get(sid) is guard:
            del manager.guards[sid]

    @server.event
    async def disconnect(sid, reason=None, *extra):
        sent = lifecycle_name_sent(sid, "disconnect")
        if sent is not None:
            return sent
        state = sockets.pop(sid, None)
        server.manager.guards.pop(sid, None)
        if state and state.expiry:
            state.expiry.cancel()

    def check(sid: str, room: object) -> tuple[SocketState | None, dict | None]:
        state = sockets.get(sid)
        if state is None:
            return None, refuse(ERR_ROOM_FORBIDDEN)
        if not state.allow():
            return None, refuse(ERR_RATE)
        if not isinstance(room, str) or not room or len(room) > MAX_ROOM_LENGTH:
            return None, refuse(ERR_ROOM_INVALID)
        return state, None

    @server.on("join-room")
    async def join_room(sid, room=None, *extra):
        state, error = check(sid, room)
        if error:
            return error
        if room in state.auto or room in state.joined:
            return ack("success", "Room rejointe", room=room)
        conversation = CONVERSATION_ROOM.fullmatch(room)
        if conversation is None and not CRENEAUX_ROOM.fullmatch(room):
            return refuse(ERR_ROOM_FORBIDDEN, room=room)
        if len(state.joined) >= settings.SOCKETIO_MAX_ROOMS_PER_SOCKET:
            return refuse(ERR_TOO_MANY_ROOMS, room=room)
        if conversation is not None:
            allowed = await serving.on_request_thread(_may_join, state.user_id, int(conversation.group(1)))
            if not allowed:
                return refuse(ERR_ROOM_FORBIDDEN, room=room)
            if sid not in sockets:  # disconnected while we checked
                return None
        await server.enter_room(sid, room)
        state.joined.add(room)
        return ack("success", "Room rejointe", room=room)

    @server.on("leave-room")
    async def leave_room(sid, room=None, *extra):
        state, error = check(sid, room)
        if error:
            return error
        if room in state.auto:
            return refuse(ERR_ROOM_AUTOMATIC, room=room)
        if room not in state.joined:
            return refuse(ERR_ROOM_NOT_JOINED, room=room)
        await server.leave_room(sid, room)
        state.joined.discard(room)
        return ack("success", "Room quittée", room=room)

    @server.on("*")
    async def unknown_event(event, sid, *args):
        return unknown(event, sid)

    def unknown(event: object, sid: str) -> dict:
        state = sockets.get(sid)
        if state is not None and not state.allow():
            return refuse(ERR_RATE)
        return refuse(ERR_UNKNOWN_EVENT,
                   event=event if isinstance(event, str) and len(event) <= 100 else None)

    server.sockets = sockets  # introspection for tests and benchmarks
    return server


def _may_join(user_id: int, conversation_id: int) -> bool:
    """One thread hop: the (still active) user, then the conversation's rule."""
    user = User.objects.filter(pk=user_id, is_active=True).first()
    return user is not None and may_join_conversation(user, conversation_id)


sio = create_server()


def ensure_started() -> None:
    """Start the manager's listener and attach the bus, once, on the serving loop."""
    if bus.attached:
        return
    loop = asyncio.get_running_loop()
    if not sio.manager_initialized:
        sio.manager_initialized = True
        sio.manager.initialize()
    bus.attach(loop, sio.emit, sio.manager.revoke)
