"""One ASGI application: Socket.IO under ``/socket.io/``, everything else to Django."""

from __future__ import annotations

import socketio
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from .server import ensure_started, sio


def build_application(django_app):
    app = socketio.ASGIApp(
        sio, other_asgi_app=ASGIStaticFilesHandler(django_app), socketio_path="socket.io"
    )

    async def application(scope, receive, send):
        # Daphne has no lifespan events: start the bus on the first connection instead.
        ensure_started()
        await app(scope, receive, send)

    return application
