"""One ASGI application: Socket.IO under ``/socket.io/``, everything else to Django."""

from __future__ import annotations

import sys

import socketio
from django.conf import settings

from medical_booking import sqlite_wal
from medical_booking.static import StaticFilesHandler

from . import daphne_tuning, gc_policy, transport
from .scheduler import start_reminders
from .server import ensure_started, sio


def start() -> None:
    """Attach the event bus and start the scheduler on the serving loop (idempotent)."""
    ensure_started()
    start_reminders()
    gc_policy.install(settings.GC_FULL_INTERVAL_SECONDS, settings.GC_FULL_GROWTH_BLOCKS)
    sqlite_wal.start(getattr(settings, "SQLITE_CHECKPOINT_SECONDS", 0))


def build_application(django_app):
    app = socketio.ASGIApp(
        sio, other_asgi_app=StaticFilesHandler(django_app), socketio_path="socket.io",
        on_startup=start,
    )
    # the Engine.IO request rules python-engineio does not apply (400s, "ok", a second websocket)
    app = transport.ProtocolGate(app, sio.eio, path="/socket.io/")
    if "twisted.internet.reactor" in sys.modules:
        # Daphne sends no ASGI lifespan events: start with the reactor instead.
        from twisted.internet import reactor

        reactor.callWhenRunning(start)
    if daphne_tuning.under_daphne():
        daphne_tuning.install(
            eager_writes=settings.DAPHNE_EAGER_WRITES,
            fast_ws_send=settings.DAPHNE_FAST_WS_SEND,
            lean_app_checker=settings.DAPHNE_LEAN_APP_CHECKER,
            slim_queues=settings.DAPHNE_SLIM_QUEUES,
            release_upgrade_request=settings.DAPHNE_RELEASE_UPGRADE_REQUEST,
        )

    async def application(scope, receive, send):
        start()  # cheap once started; covers servers that have neither hook
        await app(scope, receive, send)

    return application
