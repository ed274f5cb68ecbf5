"""One ASGI application: Socket.IO under ``/socket.io/``, everything else to Django."""

from __future__ import annotations

import sys
from collections.abc import Callable

import socketio

from attente.scheduler import start_retenues
from medical_booking.static import StaticFilesHandler
from serving.transport import ProtocolGate

from .scheduler import start_generation, start_reminders
from .server import ensure_started, sio

# Where Socket.IO is mounted (its requests; serving.graceful sends them elsewhere while draining).
SOCKETIO_PATH = "/socket.io/"


def build_application(django_app, on_start: Callable[[], None] | None = None):
    """The ASGI application; ``on_start`` runs with the real-time start, on the serving loop.

    The start (attach the event bus, start the reminder and slot-generation schedulers,
    then ``on_start``) runs at the ASGI lifespan start-up, when daphne's reactor runs
    (daphne sends no lifespan events), or at the first connection, whichever comes first;
    once.
    """

    started = False

    def start() -> None:
        # Called for every request and connection: after the first, only this flag is
        # read (``on_start`` looks at every socket the reactor watches, so running it
        # per connection cost a reconnect storm of N sockets N x N steps).
        nonlocal started
        if started:
            return
        ensure_started()
        start_reminders()
        start_generation()
        start_retenues()
        if on_start is not None:
            on_start()
        started = True  # only once all of it ran: a failed start is tried again

    app = socketio.ASGIApp(
        sio, other_asgi_app=StaticFilesHandler(django_app), socketio_path=SOCKETIO_PATH,
        on_startup=start,
    )
    # the Engine.IO request rules python-engineio does not apply (400s, "ok", a second websocket)
    app = ProtocolGate(app, sio.eio, path=SOCKETIO_PATH)
    if "twisted.internet.reactor" in sys.modules:
        # Daphne sends no ASGI lifespan events: start with the reactor instead.
        from twisted.internet import reactor

        reactor.callWhenRunning(start)

    async def application(scope, receive, send):
        start()  # a flag once started; covers servers that have neither hook
        await app(scope, receive, send)

    return application
