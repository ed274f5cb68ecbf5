"""The in-server sender: every server process sends the outbox every
``OUTBOX_INTERVAL_SECONDS`` (0: never; cron runs ``manage.py send_outbox`` instead).

It runs on a thread of its own, not on asgiref's shared sync thread: a slow or hanging
mail server (up to ``EMAIL_TIMEOUT``) must not hold up socket authentication and room
checks. That thread keeps one database connection: REQUEST_THREADS + 2 per process.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections

from .services import envoyer_dus

logger = logging.getLogger(__name__)
_task: asyncio.Task | None = None
_executor: ThreadPoolExecutor | None = None


def _pass() -> None:
    close_old_connections()  # a connection the database dropped since the last pass
    try:
        done = envoyer_dus()
        if done.total:
            logger.info("outbox: %d sent, %d to retry, %d failed", done.envoyes, done.reessais, done.echecs)
    finally:
        close_old_connections()


async def _loop(interval: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            await loop.run_in_executor(_executor, _pass)
        except Exception:
            logger.exception("outbox pass failed")
        await asyncio.sleep(interval)


def start_outbox() -> None:
    """Called once by the serving process at start (medical_booking/asgi.py)."""
    global _task, _executor
    if _task is None and settings.OUTBOX_INTERVAL_SECONDS > 0:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")
        _task = asyncio.get_running_loop().create_task(_loop(settings.OUTBOX_INTERVAL_SECONDS))
