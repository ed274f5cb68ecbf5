"""Hands committed events (and token revocations) to Socket.IO, whichever process
committed them.

In a process that serves sockets, ``publish``/``revoke`` are called from Django's sync
thread and only enqueue on the server's event loop (no blocking round trip per event);
one task drains the queue in commit order. Elsewhere (``manage.py`` commands, tests), a
write-only channel-layer manager on a private loop publishes before they return.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

logger = logging.getLogger(__name__)


class Bus:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._emit = None
        self._revoke = None
        self._private_loop: asyncio.AbstractEventLoop | None = None
        self._private_manager = None
        self._lock = threading.Lock()

    def attach(self, loop: asyncio.AbstractEventLoop, emit, revoke) -> None:
        """Called once by the socket server in its own process, on its loop."""
        self._loop = loop
        self._emit = emit
        self._revoke = revoke
        self._queue = asyncio.Queue()
        loop.create_task(self._drain())

    @property
    def attached(self) -> bool:
        return self._loop is not None

    def publish(self, event: str, payload: dict[str, Any], rooms: list[str] | None) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._queue.put_nowait, ("emit", (event, payload, rooms)))
            return
        loop, manager = self._writer()
        future = asyncio.run_coroutine_threadsafe(
            manager.emit(event, payload, namespace="/", room=rooms), loop
        )
        future.result(timeout=30)

    def revoke(self, user_id: int, sessions: list[str] = (), jtis: list[str] = (),
               version: int | None = None) -> None:
        """Close the sockets of a user (of some sessions/tokens only, if given; of tokens
        older than ``version`` only, if given) on every server."""
        args = (user_id, list(sessions), list(jtis), version)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._queue.put_nowait, ("revoke", args))
            return
        loop, manager = self._writer()
        asyncio.run_coroutine_threadsafe(manager.revoke(*args), loop).result(timeout=30)

    async def _drain(self) -> None:
        while True:
            kind, args = await self._queue.get()
            try:
                if kind == "emit":
                    event, payload, rooms = args
                    await self._emit(event, payload, to=rooms)
                else:
                    await self._revoke(*args)
            except Exception:  # one bad item must not stop the stream
                logger.exception("could not hand %s to the sockets", kind)

    def _writer(self):
        with self._lock:
            if self._private_loop is None:
                # Here, not at the top: not a cycle (tests/test_imports.py forbids those),
                # but python-socketio and engine.io cost ~0.2 s of imports that processes
                # which never publish (migrate, shell...) need not pay.
                from .manager import ChannelLayerManager

                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="realtime-bus", daemon=True
                )
                thread.start()
                self._private_manager = ChannelLayerManager(write_only=True, logger=logger)
                self._private_loop = loop
            return self._private_loop, self._private_manager


bus = Bus()
