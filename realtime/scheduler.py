"""The in-server reminder scheduler: ``make run`` alone sends reminders.

Every process may run it (and cron may run ``send_reminders`` too): the database
decides who sends each reminder, so running it twice never sends anything twice.
"""

from __future__ import annotations

import asyncio
import logging

from asgiref.sync import sync_to_async
from django.conf import settings

from rendezvous.reminders import send_due_reminders

logger = logging.getLogger(__name__)
_task: asyncio.Task | None = None


async def _loop(interval: float) -> None:
    while True:
        try:
            await sync_to_async(send_due_reminders)()
        except Exception:
            logger.exception("reminder pass failed")
        await asyncio.sleep(interval)


def start_reminders() -> None:
    global _task
    if _task is None and settings.REMINDERS_IN_SERVER:
        _task = asyncio.get_running_loop().create_task(_loop(settings.REMINDER_INTERVAL_SECONDS))
