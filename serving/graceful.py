"""Graceful stop: on SIGTERM a daphne process drains instead of dropping everything.

Stock daphne stops its reactor on SIGTERM: every application instance is cancelled at
once, so an HTTP request in progress is cut (nginx answers the client 502, and whether
a booking committed is anyone's guess), and sockets vanish. Here SIGTERM starts a drain
(:func:`drain`), bounded by ``SHUTDOWN_TIMEOUT_SECONDS``:

1. stop accepting without cutting what already came: the kernel stops completing new
   handshakes (:func:`serving.listen_backlog.refuse_new_handshakes`), the reactor takes in
   the connections already queued, then the listening ports close. A new connection is
   then refused and nginx sends it to the other process (a refused connection is safe to
   retry, POST too). Closing at once would reset the queued ones, whose request nginx
   had already sent: a 502 it never retries for a POST;
2. tell the sockets to reconnect: each engine.io transport is closed
   (``serving.transport.drop``), never a Socket.IO DISCONNECT, which official clients
   take as final; they reconnect by themselves, through nginx to another process, with
   their ``lastEventId``, and replay what they missed. New Socket.IO requests are
   answered 503 ``redemarrage_en_cours`` (websockets: close 1012), so they go elsewhere;
3. finish the HTTP requests: those in progress, and those that reached this process
   anyway (queued, or on a kept-alive connection), which are served as usual; a
   kept-alive connection is closed after its response, an idle one once the requests
   of the connections just taken in have had time to be read (``SETTLE_SECONDS``);
4. stop the reactor (daphne's own shutdown) once none is left, or at the bound.

A second SIGTERM (or SIGINT) stops at once. :class:`Draining` (the outermost ASGI
application, under any server) counts the requests in progress; the signal handler is
installed under daphne only (:func:`install`, from ``serving.start``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time

from . import versions
from .listen_backlog import listening_ports, queued, refuse_new_handshakes

logger = logging.getLogger("serving")

CODE = "redemarrage_en_cours"
MESSAGE = "Serveur en cours de redémarrage, réessayez dans un instant"
# Closing idle kept-alive HTTP connections reads Twisted's HTTPChannel and daphne's
# Server bookkeeping: that part only on the versions it was written for.
CHANNELS_GROUP = "graceful shutdown: closing kept-alive HTTP connections (SHUTDOWN_TIMEOUT_SECONDS)"
# How long the accept queue must stay empty before the ports close, and how long the
# connections just taken in get to deliver their request before idle ones are closed.
# Loopback and a LAN answer a handshake in well under a millisecond.
QUIET_SECONDS = 0.02
SETTLE_SECONDS = 0.1
ACCEPT_BOUND_SECONDS = 1.0


class Draining:
    """The outermost ASGI application: counts HTTP requests in progress; once draining,
    refuses new Socket.IO requests (under ``socketio_path``: 503, ``Connection: close``)
    and websockets, and still serves the rest (a request that reached a stopping process
    is answered, not lost)."""

    def __init__(self, app, socketio_path: str) -> None:
        self.app = app
        self.socketio_path = socketio_path
        self.in_flight = 0
        self.draining = False

    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if self.draining and kind == "http" and scope["path"].startswith(self.socketio_path):
            body = json.dumps({"code": CODE, "message": MESSAGE, "details": {}}, ensure_ascii=False).encode()
            await send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"retry-after", b"1"), (b"connection", b"close")]})
            await send({"type": "http.response.body", "body": body})
            return
        if self.draining and kind == "websocket":
            await send({"type": "websocket.close", "code": 1012})  # 1012: service restart
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


_state = {"draining": False, "installed": False}


def install(app: Draining, timeout: float) -> bool:
    """Under daphne, once the reactor runs: SIGTERM drains ``app`` then stops the reactor.

    Replaces the handler Twisted installed at reactor start-up (``signal.signal``, the
    public way; Twisted's own stops the reactor at once). Returns True when installed.
    """
    if _state["installed"]:
        return True
    from twisted.internet import reactor

    def on_signal(signum, frame) -> None:
        if _state["draining"]:
            logger.warning("graceful stop: signal %d again, stopping now", signum)
            reactor.callFromThread(_stop_reactor)
            return
        _state["draining"] = True
        reactor.callFromThread(lambda: asyncio.ensure_future(drain(app, timeout)))

    signal.signal(signal.SIGTERM, on_signal)
    _state["installed"] = True
    return True


def _stop_reactor() -> None:
    from twisted.internet import reactor

    if reactor.running:
        reactor.stop()


def _close_kept_alive(ports: list) -> tuple[int, int]:
    """Close the idle kept-alive HTTP connections now, the busy ones after their response.

    Returns (closed now, closing after the response); (0, 0) on other versions."""
    if not versions.written_for(CHANNELS_GROUP, "daphne", "Twisted", where="serving/graceful.py"):
        return 0, 0
    from twisted.internet import reactor, tcp
    from twisted.web import http

    def channel_of(protocol):
        protocol = getattr(protocol, "_channel", protocol)  # _GenericHTTPChannelProtocol
        return protocol if isinstance(protocol, http.HTTPChannel) else None

    channels = {channel_of(getattr(t, "protocol", None)) for t in
                (*reactor.getReaders(), *reactor.getWriters()) if isinstance(t, tcp.Server)}
    # Busy channels may be paused (neither reading nor writing): daphne's bookkeeping of
    # its requests in progress finds them.
    for port in ports:
        server = getattr(port.factory, "server", None)
        for protocol in list(getattr(server, "connections", {}) or {}):
            channels.add(channel_of(getattr(protocol, "channel", None)))
    now = later = 0
    for channel in channels - {None}:
        channel.persistent = False
        if not channel.requests and channel.transport is not None:
            channel.transport.loseConnection()
            now += 1
        else:
            later += 1
    return now, later


async def _reconnect_sockets() -> int:
    from realtime.server import sio

    from .transport import drop

    sockets = list(sio.eio.sockets.values())
    for socket in sockets:
        await drop(socket)
    return len(sockets)


async def _stop_accepting(ports: list) -> bool:
    """Close ``ports`` without resetting the connections queued in them.

    True when the queue was emptied first; False where new handshakes cannot be held
    off (no socket filter): the ports close at once, as stock Twisted would."""
    held = all([refuse_new_handshakes(port.socket) for port in ports])
    if held:  # the reactor still reads the ports: it accepts what is queued
        quiet_since = now = time.monotonic()
        bound = now + ACCEPT_BOUND_SECONDS
        while now < bound and now - quiet_since < QUIET_SECONDS:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            if any(queued(port.socket) for port in ports):
                quiet_since = now
    for port in ports:
        port.stopListening()
    return held


async def drain(app: Draining, timeout: float) -> None:
    """Stop accepting, reconnect the sockets elsewhere, finish the requests, stop."""
    started = time.monotonic()
    deadline = started + max(0.0, timeout - 1.0)  # a second for the reactor's own shutdown
    app.draining = True
    try:
        ports = listening_ports()
        held = await _stop_accepting(ports)
        sockets = await _reconnect_sockets()
        await asyncio.sleep(SETTLE_SECONDS)
        closed, closing = _close_kept_alive(ports)
        logger.warning("graceful stop: stopped accepting (%s), %d sockets told to reconnect, "
                       "%d idle connections closed, %d requests in progress (%d connections)",
                       "queued connections taken in" if held else "closed at once: no socket filter here",
                       sockets, closed, app.in_flight, closing)
        while app.in_flight > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if app.in_flight:
            logger.warning("graceful stop: %d requests still in progress after %.1f s, stopping anyway",
                           app.in_flight, time.monotonic() - started)
        else:
            logger.warning("graceful stop: drained in %.2f s", time.monotonic() - started)
    except Exception:
        logger.exception("graceful stop: drain failed, stopping now")
    _stop_reactor()
