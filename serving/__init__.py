"""The serving machinery: how this process serves HTTP and Socket.IO, apart from what it serves.

The domain of real time (events, rooms, the bus, replay, the Socket.IO handlers) is in
``realtime/``; here is what makes one process serve it fast and safely, most of it bound
to the internals of the libraries underneath:

- ``transport``: engine.io sockets without a task per socket, and packet fixes
  (python-engineio internals);
- ``daphne_tuning``: daphne / autobahn / txaio / Twisted write paths and bookkeeping;
- ``handlers``: Django's request handling in one thread hop on kept, bounded threads
  (Django's ``ASGIHandler`` internals);
- ``gc_policy``: full garbage collections on a schedule; ``sqlite_wal``: WAL checkpoints
  off the request path; ``listen_backlog``: room in the accept queue for a reconnect
  storm (public APIs only: no version check needed);
- ``client_errors``: clients' protocol errors logged as rate-limited single lines;
- ``versions``: the exact upstream versions every patch was written for, and the check.

Nothing is patched at import time. ``medical_booking/asgi.py`` calls :func:`install` once
at start-up, before the application is built, and :func:`start` once the event loop runs.
Tests and ``manage.py`` commands import ``realtime`` without any of it: python-engineio,
python-socketio, daphne and Django run as shipped there. Each patch group checks the exact
version it was written for first (``serving.versions``) and otherwise stays off with one
warning; :func:`installed` says which groups are in.
"""

from __future__ import annotations

import logging

from . import versions

logger = logging.getLogger("serving")

# Groups decided here rather than in a submodule (the code they switch on lives in the
# project's own python-socketio subclasses, realtime/server.py and realtime/manager.py).
SOCKETIO_OVERRIDES = "socketio_overrides"  # packet checks, room index copies
ONE_FRAME_DELIVERY = "one_frame_delivery"  # one encoded frame written to every recipient's socket
ONE_HOP_HANDLER = "one_hop_handler"  # serving/handlers.py instead of Django's ASGIHandler

_installed: set[str] = set()
# The one-hop handler's kept request threads, once request_handler made it (see on_request_thread).
_request_threads = None


def install(settings) -> frozenset[str]:
    """Install every serving patch the settings ask for, on the versions each was written for.

    Called once at start-up by ``medical_booking/asgi.py`` (idempotent). Under daphne only,
    the daphne tuning too. Returns :func:`installed`.
    """
    from . import daphne_tuning, transport

    transport.install(lean=settings.ENGINEIO_LEAN_SOCKETS)
    if versions.written_for("python-socketio overrides (always on)", "python-socketio",
                            where="realtime/server.py Server, realtime/manager.py RoomIndex and deliver"):
        _installed.add(SOCKETIO_OVERRIDES)
        if "engineio_fixes" in transport.installed():
            _installed.add(ONE_FRAME_DELIVERY)
    if daphne_tuning.under_daphne():
        daphne_tuning.install(
            eager_writes=settings.DAPHNE_EAGER_WRITES,
            fast_ws_send=settings.DAPHNE_FAST_WS_SEND,
            lean_app_checker=settings.DAPHNE_LEAN_APP_CHECKER,
            slim_queues=settings.DAPHNE_SLIM_QUEUES,
            release_upgrade_request=settings.DAPHNE_RELEASE_UPGRADE_REQUEST,
            lazy_log_args=settings.DAPHNE_LAZY_LOG_ARGS,
        )
    if versions.written_for("one-hop request handler (REQUEST_THREADS, AUTH_REQUEST_THREADS)", "Django",
                            where="serving/handlers.py OneHopASGIHandler"):
        _installed.add(ONE_HOP_HANDLER)
    names = installed()
    logger.info("serving: patch groups installed: %s", ", ".join(sorted(names)) or "none")
    return names


def installed() -> frozenset[str]:
    """The patch groups in: this module's, ``transport.installed()``, ``daphne_tuning.installed()``."""
    from . import daphne_tuning, transport

    return frozenset(_installed) | transport.installed() | daphne_tuning.installed()


def enabled(group: str) -> bool:
    """True when :func:`install` turned ``group`` on (one of the constants above)."""
    return group in _installed


def request_handler(settings):
    """The ASGI application for Django: the one-hop handler, or Django's own on another Django."""
    if ONE_HOP_HANDLER not in _installed:
        from django.core.asgi import get_asgi_application

        return get_asgi_application()
    from .handlers import OneHopASGIHandler

    global _request_threads
    handler = OneHopASGIHandler(threads=settings.REQUEST_THREADS, auth_threads=settings.AUTH_REQUEST_THREADS)
    _request_threads = handler.threads
    return handler


async def on_request_thread(fn, *args):
    """``fn(*args)`` (synchronous, database work) on one of the request threads, in turn
    with the HTTP requests (FIFO), and its result.

    The socket server's database calls (a connect's token check, its replay, a room
    check) ran on asgiref's one shared sync thread: one at a time, so a reconnect storm
    queued thousands of short queries behind each other while the database sat idle. The
    request threads run them side by side, each on the connection its thread keeps: no
    connection beyond ``REQUEST_THREADS + 1``. Without the one-hop handler (another Django,
    tests, commands), asgiref's shared sync thread as before.
    """
    from asgiref.sync import sync_to_async

    threads = _request_threads
    if threads is None:
        return await sync_to_async(fn)(*args)
    from .handlers import run_keeping_connection

    async with threads.thread() as executor:
        return await sync_to_async(run_keeping_connection, thread_sensitive=False, executor=executor)(fn, *args)


def start(settings) -> None:
    """On the serving event loop, once it runs: the GC policy, the SQLite checkpointer and,
    under daphne, the listen backlog."""
    from . import daphne_tuning, gc_policy, listen_backlog, sqlite_wal

    gc_policy.install(settings.GC_FULL_INTERVAL_SECONDS, settings.GC_FULL_GROWTH_BLOCKS)
    sqlite_wal.start(getattr(settings, "SQLITE_CHECKPOINT_SECONDS", 0))
    if daphne_tuning.under_daphne():
        listen_backlog.install(settings.LISTEN_BACKLOG)
