"""In the server: lapsed holds closed and their slots offered on or put back, every
``RETENUES_INTERVAL_SECONDES`` (0: never in the server; ``manage.py expirer_retenues``
from cron instead). Several processes may run it: each slot is handled under its lock.

The loop beats at every turn (``realtime.scheduler.beat``, name ``RETENUES``) like the
reminder and slot-generation loops, so /readyz tells a stuck or dead pass: a waiting
patient's offer would otherwise wait for it silently."""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings

from realtime.scheduler import RETENUES, beat

from .services import expirer_retenues, offrir_creneaux_libres

logger = logging.getLogger(__name__)
_task: asyncio.Task | None = None


def passe() -> tuple[int, int]:
    """One pass: lapsed holds, then free slots someone waits for (the safety net)."""
    return expirer_retenues(), offrir_creneaux_libres()


async def _loop(interval: float) -> None:
    while True:
        beat(RETENUES, interval)
        try:
            await sync_to_async(passe)()
        except Exception:
            logger.exception("hold expiry pass failed")
        await asyncio.sleep(interval)


def start_retenues() -> None:
    global _task
    if _task is None and settings.RETENUES_INTERVAL_SECONDES > 0:
        beat(RETENUES, settings.RETENUES_INTERVAL_SECONDES)
        _task = asyncio.get_running_loop().create_task(_loop(settings.RETENUES_INTERVAL_SECONDES))
