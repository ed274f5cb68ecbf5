"""SQLite WAL checkpoints off the request path (embedded mode, serving process only).

By default the connection whose commit takes the WAL past 1,000 pages copies them into
the database file and syncs it, inside that request: with one booking every 50 ms the
booking bench showed the same two bookings slow in every run (18-30 ms against a p50
of 9 ms), and they went away with auto-checkpointing off. In the serving process the
request connections do not checkpoint (``wal_autocheckpoint=0``); a checkpointer thread
with its own connection runs a PASSIVE checkpoint every ``SQLITE_CHECKPOINT_SECONDS``
(PASSIVE never blocks readers or writers). Management commands keep SQLite's default.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from django.conf import settings
from django.db.backends.signals import connection_created

logger = logging.getLogger(__name__)

_task: asyncio.Task | None = None


def no_autocheckpoint(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint(db: sqlite3.Connection) -> tuple[int, int, int]:
    """One PASSIVE checkpoint: (busy, frames in the WAL, frames checkpointed)."""
    return tuple(db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())


async def _checkpoints(path: str, interval: float) -> None:
    db = await asyncio.to_thread(sqlite3.connect, path, timeout=20, check_same_thread=False)
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(checkpoint, db)
        except sqlite3.Error:
            logger.exception("WAL checkpoint failed")


def start(interval: float, alias: str = "default") -> bool:
    """Move checkpoints to a background thread; once per process, SQLite files only.

    Reads the settings, not ``connections[alias]``: on the event loop thread that would
    make a connection object in the calling task's context (one per socket).
    """
    global _task
    if _task is not None or interval <= 0:
        return False
    db = settings.DATABASES[alias]
    name = str(db.get("NAME") or "")
    if not db["ENGINE"].endswith("sqlite3") or not name or ":memory:" in name or "mode=memory" in name:
        return False
    connection_created.connect(no_autocheckpoint, dispatch_uid="medical_booking.sqlite_wal")
    _task = asyncio.get_running_loop().create_task(_checkpoints(name, interval))
    return True
