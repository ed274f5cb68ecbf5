"""Engine.IO socket behaviour we rely on, in one place (python-engineio 4.x).

Two kinds of change, both keeping every byte on the wire as it was.

Correctness, always on:

- over long-polling ``AsyncSocket.poll`` answers with everything queued, but
  python-engineio clients refuse a payload of more than ``Payload.max_decode_packets``
  (16) packets and drop the connection: a burst of 17+ events disconnected
  python-socketio clients on polling. A poll now answers with at most that many; the
  rest goes in the next poll.
- a long-polling POST whose body does not decode is the client's error: one
  rate-limited line (``serving.client_errors``), the session closed and a 400, as for
  an unknown packet type (stock logged a traceback and answered "OK");
- a packet of a type engine.io does not have closes its connection on either socket
  kind (stock's ``receive`` failed formatting its log line: a traceback per frame);
- ``drop`` ends a connection the way engine.io does on a protocol error (no Socket.IO
  DISCONNECT, so official clients reconnect by themselves).

Protocol conformance, always on (the Engine.IO v4 spec and the official test suite,
``bench/README.md`` "Conformance"), where python-engineio 4.15 departs from it:

- the OPEN packet gives ``pingInterval``/``pingTimeout`` in exact milliseconds (stock
  wrote ``int(seconds) * 1000``: 0 for 0.3 s, which clients read as "ping every 0 ms");
- a second long-poll GET, or a second POST, while one is pending closes the session
  (the pending poll answers CLOSE) and answers 400 (stock let both wait);
- a request for a session whose ping went unanswered for ``ping_timeout`` finds it
  closed (400) at once, not at the next sweep of the service task;
- a CLOSE packet ends a pending long-poll with a NOOP and a websocket at once (stock
  left both waiting until the ping timeout);
- over the lean sockets, an upgrade sends the NOOP to a pending long-poll only (stock
  also queued one when no poll was pending, which then went out on the websocket);
- ``ProtocolGate``, in front of the ASGI app, answers what python-engineio answers
  otherwise: 400 for a request method other than GET/POST/OPTIONS (stock 405) or without
  ``EIO=4``/``transport``, ``ok`` to a POST (stock ``OK``), and a second websocket of an
  upgraded session is accepted then closed (stock refused its handshake: a 403, which
  clients report as an error).

Lean sockets (``ENGINEIO_LEAN_SOCKETS``, on by default): what a held socket costs in
memory, and what a delivery costs in CPU. Stock python-engineio keeps, for every
websocket, a writer task waiting on an ``asyncio.Queue``, a reader that wraps each wait
in an extra task plus ``asyncio.wait_for``, and a ping task sleeping between pings,
and its service task makes a ``wait_for`` per socket visited. Instead:

- under daphne, once a websocket is open, packets are written to it at once (daphne's
  send never suspends: Twisted buffers), so there is no writer task and a delivery is a
  function call, not a task wake-up; elsewhere the stock writer task is kept;
- the reader waits under ``asyncio.timeout`` (one timer, no task); a frame that does not
  decode, or of an unknown type, closes the connection with one rate-limited log line
  (stock logged a traceback per frame and kept reading);
- one ``Heartbeat`` per server sends the pings of every socket from one timer;
- queues are ``SlimQueue``: no deque while empty (an idle ``asyncio.Queue`` holds three
  deques and an ``Event``, ~2.5 KB);
- the service task walks the sockets in slices, one timed wait per slice;
- ``translate_request`` builds the WSGI-style environ with one request-body class for
  all requests: stock defines a new class on every request (1.7 KB, and a reference
  cycle), which a websocket keeps for its whole life.

Both groups replace python-engineio internals, so :func:`install` (called by
``serving.install`` at start-up, never at import) puts them in only on the exact
python-engineio version they were written for (``serving.versions``), the direct
websocket writes only on that daphne's; on another version python-engineio's own
sockets run, with one warning per group. ``tests/test_upstream_fingerprints.py`` pins
the upstream source each replaced function was read against.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import sys
import time
import urllib.parse
from collections import deque

from engineio import async_server, async_socket, exceptions, packet, payload

from .client_errors import excerpt, report
from .versions import written_for

logger = logging.getLogger(__name__)

MAX_PACKETS_PER_POLL = payload.Payload.max_decode_packets
SERVICE_SLICE_SECONDS = 0.5

# python-engineio's own methods, kept by install() before it replaces them
_stock_websocket_handler = None
_stock_receive = None
_stock_send = None
_stock_handle_get_request = None


class SlimQueue:
    """The part of ``asyncio.Queue`` that engine.io and daphne use, without the deques.

    Unbounded; ``task_done`` is a no-op and ``join`` waits until the queue is empty
    (engine.io's ``close(wait=True)`` only needs "everything queued was taken").
    """

    __slots__ = ("_items", "_getters", "_joiners")

    def __init__(self) -> None:
        self._items: deque | None = None  # created on the first put, dropped when empty
        self._getters: list[asyncio.Future] | None = None
        self._joiners: list[asyncio.Future] | None = None

    def qsize(self) -> int:
        return len(self._items) if self._items else 0

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        if self._getters:
            for getter in self._getters:
                if not getter.done():
                    getter.set_result(None)
                    break

    async def put(self, item) -> None:
        self.put_nowait(item)

    def get_nowait(self):
        if not self._items:
            raise asyncio.QueueEmpty
        item = self._items.popleft()
        if not self._items:
            self._items = None
            if self._joiners:
                joiners, self._joiners = self._joiners, None
                for joiner in joiners:
                    if not joiner.done():
                        joiner.set_result(None)
        return item

    async def get(self):
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                # cancelled after being woken: pass the wake-up on
                if getter.done() and not getter.cancelled() and self._items:
                    self._wake_next(getter)
                raise
            finally:
                self._getters.remove(getter)
                if not self._getters:
                    self._getters = None
        return self.get_nowait()

    def _wake_next(self, skip: asyncio.Future) -> None:
        for getter in self._getters or ():
            if getter is not skip and not getter.done():
                getter.set_result(None)
                return

    def task_done(self) -> None:
        pass

    async def join(self) -> None:
        if self._items:
            joiner = asyncio.get_running_loop().create_future()
            if self._joiners is None:
                self._joiners = []
            self._joiners.append(joiner)
            await joiner


class Heartbeat:
    """Sends the Engine.IO pings of every socket of one server from one timer.

    Stock python-engineio starts a task per socket after each pong, to sleep
    ``ping_interval`` and send a PING. Here a socket goes into the bucket of the last tick
    before its ping is due; one timer per tick sends the due pings. Ticks are a quarter of
    a second apart (a fifth of the interval when that is shorter): a ping leaves at most
    one tick early, never late, so the session's deadline (the ping, then
    ``ping_timeout``) is never later than the protocol's ``pingInterval + pingTimeout``
    after the last pong; and sockets that connected in the same second are not all pinged
    in one loop callback.
    """

    def __init__(self, server: async_server.AsyncServer) -> None:
        self.server = server
        self.tick = max(0.05, min(0.25, server.ping_interval / 5))
        self.buckets: dict[int, list] = {}
        self._timer: asyncio.TimerHandle | None = None

    def schedule(self, socket: async_socket.AsyncSocket) -> None:
        due = math.floor((time.monotonic() + self.server.ping_interval) / self.tick)
        bucket = self.buckets.get(due)
        if bucket is None:
            self.buckets[due] = bucket = []
        bucket.append(socket)
        if self._timer is None:
            self._arm()

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        first = min(self.buckets)
        self._timer = loop.call_at(loop.time() + max(0.0, first * self.tick - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._timer = None
        now = time.monotonic() / self.tick
        ping = packet.Packet(packet.PING)  # one packet (and encoding) for every due socket
        sent_at = time.time()
        failed = 0
        try:
            for due in sorted(k for k in self.buckets if k <= now):
                for socket in self.buckets.pop(due):
                    if not socket.closing and not socket.closed:
                        socket.last_ping = sent_at
                        try:
                            socket.send_nowait(ping)
                        except Exception:  # one socket's failure must not cost the others their ping
                            failed += 1
                            if failed == 1:
                                logger.exception("heartbeat: ping to socket %s failed", socket.sid)
        finally:
            if failed > 1:
                logger.error("heartbeat: pings to %d sockets failed in one tick", failed)
            if self.buckets:
                self._arm()


def heartbeat_of(server: async_server.AsyncServer) -> Heartbeat:
    beat = server.__dict__.get("_heartbeat")
    if beat is None:
        beat = server._heartbeat = Heartbeat(server)
    return beat


class DaphneWebsocket:
    """Writes frames to one daphne websocket now (daphne's ASGI send never suspends).

    An object with two slots per held socket, rather than a closure (a function and its
    cells) per socket.
    """

    __slots__ = ("connections", "protocol")

    def __init__(self, connections: dict, protocol) -> None:
        self.connections = connections
        self.protocol = protocol

    @classmethod
    def of(cls, ws) -> DaphneWebsocket | None:
        """The writer for this engine.io websocket, when daphne serves it."""
        send = getattr(ws, "asgi_send", None)
        reply = _daphne_handle_reply()
        if reply is None or not (isinstance(send, functools.partial) and len(send.args) == 1
                                 and getattr(send.func, "__func__", None) is reply):
            return None
        return cls(send.func.__self__.connections, send.args[0])

    def close(self) -> None:
        """Close the websocket now (its reader then ends the engine.io socket)."""
        connection = self.connections.get(self.protocol)
        if connection is None or connection.get("disconnected"):
            return
        self.protocol.handle_reply({"type": "websocket.close", "code": 1000})

    def write(self, frame: str | bytes) -> None:
        """Write one frame; dropped once the websocket is closing.

        daphne marks a connection "disconnected" only when Twisted reports the TCP
        connection lost; autobahn stops sending earlier, as soon as a close handshake
        starts or it drops the connection (a client's CLOSE frame: ``STATE_CLOSED``, the TCP
        closed a loop turn later, or once the client has read what is buffered), and raises
        ``Disconnected`` on a send meanwhile. Stock python-engineio's writer task ends on it;
        here the frame is dropped, so a heartbeat tick or a room delivery that meets such a
        socket goes on to the others (the reader ends the engine.io socket at the disconnect).
        """
        connection = self.connections.get(self.protocol)
        if connection is None or connection.get("disconnected"):
            return
        try:
            if isinstance(frame, bytes):
                self.protocol.handle_reply({"type": "websocket.send", "bytes": frame, "text": None})
            else:
                self.protocol.handle_reply({"type": "websocket.send", "bytes": None, "text": frame})
        except _websocket_closed():
            return


@functools.cache
def _websocket_closed() -> type[Exception]:
    """autobahn's ``Disconnected`` (public API: what ``sendMessage`` raises on a websocket
    that is no longer open), looked up when a daphne websocket is first written to."""
    try:
        from autobahn.exception import Disconnected
    except ImportError:  # pragma: no cover - autobahn comes with daphne
        return type("Disconnected", (Exception,), {})
    return Disconnected


@functools.cache
def _daphne_handle_reply():
    """daphne's ``Server.handle_reply``, when the direct writes were written for this daphne."""
    if not written_for("ENGINEIO_LEAN_SOCKETS (direct writes to daphne websockets)", "daphne",
                                where="serving/transport.py DaphneWebsocket"):
        return None
    try:
        from daphne.server import Server
    except ImportError:  # pragma: no cover - daphne is in requirements
        return None
    return Server.handle_reply


def _within_limit(data, limit: int):
    """What ``ws.wait()`` returned, unless it is over engine.io's packet size limit."""
    if data and len(data) > limit:
        raise ValueError("packet is too large")
    return data


# ---- AsyncSocket methods ----------------------------------------------------------------

async def poll(self) -> list:
    queue = self.queue
    try:
        if not queue.empty():
            first = queue.get_nowait()
        elif self.upgraded:
            first = await queue.get()
        else:
            first = await asyncio.wait_for(
                queue.get(), self.server.ping_interval + self.server.ping_timeout
            )
    except (TimeoutError, asyncio.CancelledError):
        raise exceptions.QueueEmpty() from None
    queue.task_done()
    if first is None:
        return []
    packets = [first]
    limit = None if self.upgraded else MAX_PACKETS_PER_POLL
    while limit is None or len(packets) < limit:
        try:
            pkt = queue.get_nowait()
        except asyncio.QueueEmpty:
            break
        queue.task_done()
        if pkt is None:
            queue.put_nowait(None)  # leave the close marker for the next poll
            break
        packets.append(pkt)
    return packets


def send_nowait(self, pkt: packet.Packet) -> None:
    """Write the packet now on an open websocket, else queue it for the transport."""
    websocket = self._websocket
    if websocket is not None:
        websocket.write(pkt.encode())
    else:
        self.queue.put_nowait(pkt)


async def send(self, pkt: packet.Packet) -> None:
    if pkt.packet_type == packet.OPEN:
        _exact_open(self.server, pkt)
    if await self.check_ping_timeout():
        self.send_nowait(pkt)


async def send_exact_open(self, pkt: packet.Packet) -> None:
    """Stock ``send`` (the stock sockets), with the OPEN packet's timings exact."""
    if pkt.packet_type == packet.OPEN:
        _exact_open(self.server, pkt)
    await _stock_send(self, pkt)


def _exact_open(server: async_server.AsyncServer, pkt: packet.Packet) -> None:
    """Write the handshake's heartbeat values in exact milliseconds.

    python-engineio 4.15 writes ``int(ping_interval + grace) * 1000``: 0 for 0.3 s, 1000
    for 1.5 s. A client then expects pings far more often than they come and drops a
    healthy connection (socket.io-client waits ``pingInterval + pingTimeout``).
    """
    if isinstance(pkt.data, dict) and "pingInterval" in pkt.data:
        pkt.data["pingInterval"] = round((server.ping_interval + server.ping_interval_grace_period) * 1000)
        pkt.data["pingTimeout"] = round(server.ping_timeout * 1000)


def schedule_ping(self) -> None:
    # as stock: only after the previous ping was answered (or at connect)
    if self.last_ping:
        self.last_ping = None
        heartbeat_of(self.server).schedule(self)


def _decoded(socket, data) -> packet.Packet | None:
    """The engine.io packet in a client frame, or None (reported) when it does not decode."""
    try:
        pkt = packet.Packet(encoded_packet=data)
    except Exception:  # parsing the client's bytes: any failure is theirs
        report("engine.io socket %s: undecodable packet %s; connection closed", socket.sid, excerpt(data))
        return None
    if not _known_type(pkt):
        report("engine.io socket %s: unknown packet type %s; connection closed", socket.sid, excerpt(data))
        return None
    return pkt


async def receive(self, pkt: packet.Packet) -> None:
    """Stock, but a packet type engine.io does not have closes the connection (stock's
    receive raised IndexError formatting its log line, which was logged as a traceback
    while python-engineio's own websocket reader kept reading), and a CLOSE ends the
    transport at once.

    On a CLOSE stock closes the session but leaves a pending long-poll waiting, and its
    websocket reader reading, until the ping timeout. The reference server answers the
    pending poll with a NOOP and closes the websocket: so do we.
    """
    if not _known_type(pkt):
        report("engine.io socket %s: unknown packet type %s; connection closed", self.sid,
               excerpt(str(pkt.packet_type)))
        await drop(self)
        raise exceptions.SocketIsClosedError()  # ends the websocket reader, stock or lean
    await _stock_receive(self, pkt)
    if pkt.packet_type == packet.CLOSE:
        if self._long_poll:
            self.queue.put_nowait(packet.Packet(packet.NOOP))  # the session is closed: no send()
        if self.upgraded:
            raise exceptions.SocketIsClosedError()  # ends the websocket reader, stock or lean


def _upgrade_request(socket: async_socket.AsyncSocket, environ: dict) -> bool:
    """Whether a GET asks for a websocket (python-engineio's own test in handle_get_request)."""
    connections = [s.strip() for s in environ.get("HTTP_CONNECTION", "").lower().split(",")]
    return "upgrade" in connections and environ.get("HTTP_UPGRADE", "").lower() in socket.upgrade_protocols


async def handle_get_request(self, environ):
    """Stock, with two rules of the protocol for long-polls.

    A client has at most one GET pending: a second one closes the session, the pending
    one answers CLOSE and the second 400 (stock let both wait, and the second took what
    the first should have). A session whose ping went unanswered for ``ping_timeout`` is
    closed (400) when the request comes, not at the service task's next sweep.
    """
    if self.upgrading or self.upgraded or _upgrade_request(self, environ):
        return await _stock_handle_get_request(self, environ)
    if not await self.check_ping_timeout():
        raise exceptions.EngineIOError()  # closed by the ping timeout: the server answers 400
    if self._long_poll:
        report("engine.io socket %s: a second long-poll while one is pending; session closed", self.sid)
        await self.close(wait=False, abort=False, reason=self.server.reason.TRANSPORT_ERROR)
        raise exceptions.EngineIOError()  # the pending poll answers CLOSE, this one 400
    self._long_poll = True
    try:
        return await _stock_handle_get_request(self, environ)
    finally:
        del self._long_poll  # back to the class default (no attribute kept per socket)


def _known_type(pkt: packet.Packet) -> bool:
    # "7".."9" decode to types that engine.io's receive() cannot even log (IndexError)
    return 0 <= pkt.packet_type < len(packet.packet_names)


async def handle_post_request(self, environ) -> None:
    """Stock, with a malformed body reported as one line and the session closed (400).

    The session is closed here without waiting: stock's ``disconnect`` waits until a
    long-poll takes the CLOSE packet, and a client with no poll pending never sends one
    while its POST is unanswered. As for GET, a session past its ping timeout answers
    400, and a second POST while one is pending closes the session (the protocol: a
    client has at most one POST pending, so that packets keep their order).
    """
    if not await self.check_ping_timeout():
        raise exceptions.EngineIOError()  # closed by the ping timeout: the server answers 400
    if self._posting:
        await _refuse(self, "a second POST while one is pending", b"")
    self._posting = True
    try:
        await _handle_post_body(self, environ)
    finally:
        del self._posting  # back to the class default


async def _handle_post_body(self, environ) -> None:
    try:
        length = int(environ.get("CONTENT_LENGTH", "0") or 0)
    except ValueError:
        length = -1
    if length > self.server.max_http_buffer_size:
        await _refuse(self, "polling payload over the size limit", b"")
    body = b""
    if length >= 0:
        body = await environ["wsgi.input"].read(length)
    try:
        if length < 0:
            raise ValueError("bad Content-Length")
        packets = payload.Payload(encoded_payload=body.decode("utf-8")).packets
    except Exception:  # parsing the client's bytes: any failure is theirs
        await _refuse(self, "undecodable polling payload", body)
    for pkt in packets:
        if self.closed:
            break  # closed while the body was read (a ping timeout, a second POST)
        if not _known_type(pkt):
            await _refuse(self, "unknown packet type", pkt.encode(b64=True))
        try:
            await self.receive(pkt)
        except exceptions.UnknownPacketError:
            await _refuse(self, "unknown packet type", pkt.encode(b64=True))
        if self.closed:
            break  # the packet closed the session (a Socket.IO protocol error, a CLOSE)


async def _refuse(socket, what: str, data) -> None:
    report("engine.io socket %s: %s %s; connection closed", socket.sid, what, excerpt(data))
    await socket.close(wait=False, abort=False, reason=socket.server.reason.TRANSPORT_ERROR)
    raise exceptions.EngineIOError()  # the server answers 400 and forgets the session


async def drop(socket: async_socket.AsyncSocket | None) -> None:
    """End an engine.io connection as engine.io does on a protocol error.

    The session closes (disconnect handlers run), a pending long-poll answers CLOSE, an
    open websocket is closed. No Socket.IO DISCONNECT packet: official clients take it as
    a lost transport and reconnect by themselves.
    """
    if socket is None or socket.closed or socket.closing:
        return
    if "engineio_fixes" not in _installed:
        # python-engineio of a version these lines were not written for: its public way, in
        # the background (its disconnect waits until the transport took the CLOSE packet).
        # Slower: official websocket clients ignore a CLOSE packet, and stock keeps the
        # websocket open, so they notice at their ping timeout (then reconnect as above).
        socket.server.start_background_task(socket.server.disconnect, socket.sid)
        return
    websocket = socket._websocket
    await socket.close(wait=False, abort=False, reason=socket.server.reason.TRANSPORT_ERROR)
    if websocket is not None:
        websocket.close()
    elif socket.upgraded:
        socket.queue.put_nowait(None)  # stock websocket writer: ends it, and it closes the websocket


async def websocket_handler(self, ws) -> None:
    websocket = DaphneWebsocket.of(ws)
    if websocket is None:
        return await _stock_websocket_handler(self, ws)
    server = self.server
    limit = server.max_http_buffer_size

    if self.connected:
        # an upgrade from polling: the probe exchange, as stock engine.io does it
        self.upgrading = True
        try:
            pkt = _within_limit(await ws.wait(), limit)
        except OSError:
            return
        decoded = _decoded(self, pkt)
        if decoded is None or decoded.packet_type != packet.PING or decoded.data != "probe":
            self.upgrading = False
            return
        await ws.send(packet.Packet(packet.PONG, data="probe").encode())
        if self._long_poll:
            # End the pending poll (the protocol). A poll that comes later while upgrading
            # gets a NOOP at once (stock handle_get_request); stock also queued one when no
            # poll was pending, which then went out on the websocket.
            self.queue.put_nowait(packet.Packet(packet.NOOP))
        try:
            pkt = _within_limit(await ws.wait(), limit)
        except OSError:
            self.upgrading = False
            return
        decoded = _decoded(self, pkt)
        if decoded is None or decoded.packet_type != packet.UPGRADE:
            self.upgraded = False
            self.upgrading = False
            return
        self.upgraded = True
        self.upgrading = False
    else:
        self.connected = True
        self.upgraded = True

    # From here on packets are written as they are sent; what was queued goes first.
    closing = False
    while not self.queue.empty():
        pkt = self.queue.get_nowait()
        if pkt is None:
            closing = True
            break
        websocket.write(pkt.encode())
    self._websocket = None if closing else websocket

    timeout = server.ping_interval + server.ping_timeout
    while not closing:
        try:
            async with asyncio.timeout(timeout):
                p = _within_limit(await ws.wait(), limit)
        except BaseException:  # timeout, disconnect, oversize, cancellation: as stock
            break
        if p is None:
            break  # connection closed by the client
        pkt = _decoded(self, p)
        if pkt is None:
            break  # a frame that does not decode: close, as engine.io does
        try:
            await self.receive(pkt)
        except exceptions.UnknownPacketError:
            report("engine.io socket %s: unknown packet type %s; connection closed", self.sid, excerpt(p))
            break
        except exceptions.SocketIsClosedError:
            break
        except Exception:
            server.logger.exception("Unknown receive error")  # a bug of ours: keep the traceback
        if self.closed:
            break  # the packet closed the session (a Socket.IO protocol error, a CLOSE)

    self._websocket = None
    await ws.close()
    await self.close(wait=False, abort=True, reason=server.reason.TRANSPORT_CLOSE)


# ---- the ASGI driver ---------------------------------------------------------------------------

class RequestBody:
    """python-engineio's ``AwaitablePayload``, defined once instead of per request."""

    __slots__ = ("event", "payload", "receive")

    def __init__(self, event: dict, receive) -> None:
        self.event = event
        self.payload = None
        self.receive = receive

    async def read(self, length: int | None = None) -> bytes:
        if self.payload is None and self.event["type"] == "http.request":
            self.payload = self.event.get("body") or b""
            while self.event.get("more_body"):
                self.event = await self.receive()
                if self.event["type"] == "http.request":
                    if length is None or len(self.payload) < length:
                        self.payload += self.event.get("body") or b""
        if length is None:
            body, self.payload = self.payload, b""
        else:
            body, self.payload = self.payload[:length], self.payload[length:]
        return body


async def translate_request(scope: dict, receive, send) -> dict:
    """python-engineio 4.x ``asgi.translate_request``, with :class:`RequestBody`."""
    event = await receive()
    if event["type"] not in ("http.request", "websocket.connect"):
        return {}
    raw_uri = scope["path"]
    query_string = ""
    if scope.get("query_string"):
        try:
            query_string = scope["query_string"].decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            raw_uri += "?" + query_string
    environ = {
        "wsgi.input": RequestBody(event, receive),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.async": True,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "SERVER_SOFTWARE": "asgi",
        "REQUEST_METHOD": scope.get("method", "GET"),
        "PATH_INFO": scope["path"],
        "QUERY_STRING": query_string,
        "RAW_URI": raw_uri,
        "SCRIPT_NAME": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "0",
        "SERVER_NAME": "asgi",
        "SERVER_PORT": "0",
        "asgi.receive": receive,
        "asgi.send": send,
        "asgi.scope": scope,
    }
    for name, value in scope["headers"]:
        try:
            name = name.upper().decode("utf-8")
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            continue  # skip a header that cannot be decoded
        if name == "CONTENT-TYPE":
            environ["CONTENT_TYPE"] = value
            continue
        if name == "CONTENT-LENGTH":
            environ["CONTENT_LENGTH"] = value
            continue
        key = "HTTP_" + name.replace("-", "_")
        if key in environ:
            value = f"{environ[key]},{value}"
        environ[key] = value
    environ["wsgi.url_scheme"] = environ.get("HTTP_X_FORWARDED_PROTO", "http")
    return environ


# ---- requests python-engineio answers otherwise ------------------------------------------------

class ProtocolGate:
    """The Engine.IO request rules python-engineio 4.15 does not apply, in front of its app.

    For requests under ``path`` (the others pass through untouched):

    - HTTP: a method other than GET, POST and OPTIONS (the CORS preflight) answers 400
      (stock: 405); so does a request without ``EIO=4`` or without ``transport``, both
      mandatory (stock checked EIO on handshakes only, and took a missing transport for
      ``polling``); a successful POST answers ``ok``, as the protocol says (stock: ``OK``);
    - websocket: without ``EIO=4`` and ``transport=websocket`` the handshake is refused
      (stock opened a long-polling session on it); a second websocket for a session that
      is upgraded, or upgrading, is accepted and closed at once, as the reference server
      does (stock refused its handshake: a 403, which clients report as an error).

    Only public attributes of the engine.io server are read (``sockets``, and each
    socket's ``upgraded``/``upgrading``).
    """

    def __init__(self, app, server: async_server.AsyncServer, path: str = "/socket.io/") -> None:
        self.app = app
        self.server = server
        self.path = path

    async def __call__(self, scope: dict, receive, send) -> None:
        kind = scope["type"]
        if (kind == "http" or kind == "websocket") and self._serves(scope["path"]):
            query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("utf-8", "replace"))
            if kind == "http":
                method = scope.get("method", "GET")
                if method != "OPTIONS":
                    if method != "GET" and method != "POST":
                        return await _answer_400(send, "Unsupported request method")
                    if query.get("EIO") != ["4"]:
                        return await _answer_400(send, "Unsupported protocol version")
                    if "transport" not in query:
                        return await _answer_400(send, "Missing transport")
                    if method == "POST":
                        send = _ok_in_lowercase(send)
            else:
                if query.get("EIO") != ["4"] or query.get("transport") != ["websocket"]:
                    await receive()  # websocket.connect
                    return await send({"type": "websocket.close"})  # before accept: a 403
                sid = query.get("sid")
                socket = self.server.sockets.get(sid[0]) if sid else None
                if socket is not None and (socket.upgraded or socket.upgrading):
                    await receive()  # websocket.connect
                    await send({"type": "websocket.accept"})
                    return await send({"type": "websocket.close", "code": 1000})
        await self.app(scope, receive, send)

    def _serves(self, path: str) -> bool:
        # as engine.io's ASGIApp matches its path (with a trailing slash added)
        return (path if path.endswith("/") else path + "/").startswith(self.path)


async def _answer_400(send, message: str) -> None:
    """A 400 as python-engineio writes one (a JSON string, text/plain)."""
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": f'"{message}"'.encode()})


def _ok_in_lowercase(send):
    async def send_ok(message: dict) -> None:
        if message["type"] == "http.response.body" and message.get("body") == b"OK":
            message = {**message, "body": b"ok"}
        await send(message)
    return send_ok


# ---- AsyncServer ---------------------------------------------------------------------------

async def service_task(self) -> None:
    """Stock's sweep for ping timeouts and closed sockets, one timed wait per slice."""
    self.service_task_event = event = self.create_event()
    while not event.is_set():
        sockets = list(self.sockets.values())
        slices = max(1, int(self.ping_timeout / SERVICE_SLICE_SECONDS))
        size = max(1, math.ceil(len(sockets) / slices))
        for start in range(0, max(len(sockets), 1), size):
            for s in sockets[start:start + size]:
                if s.closed:
                    self.sockets.pop(s.sid, None)
                elif not s.closing:
                    try:
                        await s.check_ping_timeout()
                    except Exception:
                        self.logger.exception("service task exception")
            try:
                await asyncio.wait_for(event.wait(), SERVICE_SLICE_SECONDS if sockets else self.ping_timeout)
                return
            except TimeoutError:
                continue
            except asyncio.CancelledError:
                return


# What install() put in, for serving.installed() and drop().
_installed: set[str] = set()


def install(*, lean: bool = True) -> bool:
    """Install the packet fixes and the protocol rules, and the lean sockets if asked; True
    when the lean ones are in.

    Both replace python-engineio internals: only on the exact version they were written
    for (``serving.versions``); on another, python-engineio's own sockets run, with one
    warning per group. Idempotent.
    """
    global _stock_websocket_handler, _stock_receive, _stock_send, _stock_handle_get_request
    where = "serving/transport.py install"
    if "engineio_fixes" not in _installed:
        if not written_for("engine.io packet fixes (always on)", "python-engineio", where=where):
            if lean:
                written_for("ENGINEIO_LEAN_SOCKETS", "python-engineio", where=where)
            return False
        _stock_receive = async_socket.AsyncSocket.receive
        _stock_websocket_handler = async_socket.AsyncSocket._websocket_handler
        _stock_send = async_socket.AsyncSocket.send
        _stock_handle_get_request = async_socket.AsyncSocket.handle_get_request
        async_socket.AsyncSocket.poll = poll
        async_socket.AsyncSocket.handle_post_request = handle_post_request
        async_socket.AsyncSocket.receive = receive
        async_socket.AsyncSocket._websocket = None  # a DaphneWebsocket while a lean one is open
        async_socket.AsyncSocket.send_nowait = send_nowait
        async_socket.AsyncSocket.send = send_exact_open
        async_socket.AsyncSocket.handle_get_request = handle_get_request
        async_socket.AsyncSocket._long_poll = False  # True while a long-poll GET waits
        async_socket.AsyncSocket._posting = False  # True while a POST is handled
        _installed.add("engineio_fixes")
    if not lean:
        return "lean_sockets" in _installed
    if "lean_sockets" in _installed:
        return True
    if not written_for("ENGINEIO_LEAN_SOCKETS", "python-engineio", where=where):
        return False
    _daphne_handle_reply()  # checks daphne's version now, at start-up, rather than at the first websocket
    from engineio.async_drivers import asgi as asgi_driver

    async_socket.AsyncSocket.send = send
    async_socket.AsyncSocket.schedule_ping = schedule_ping
    async_socket.AsyncSocket._websocket_handler = websocket_handler
    async_server.AsyncServer.create_queue = lambda self, *args, **kwargs: SlimQueue()
    async_server.AsyncServer._service_task = service_task
    asgi_driver._async["translate_request"] = translate_request
    _installed.add("lean_sockets")
    return True


def installed() -> frozenset[str]:
    """The patch groups install() put in: "engineio_fixes", "lean_sockets"."""
    return frozenset(_installed)
