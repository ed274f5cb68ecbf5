"""The in-server scheduler: ``make run`` alone sends reminders and generates slots.

Every process may run it (and cron may run ``send_reminders`` / ``generer_creneaux``
too): the database decides who sends each reminder and who inserts each slot, so
running it twice never sends or creates anything twice.

Both run on asgiref's shared sync thread (one database connection of its own; the socket
server's calls run on the request threads, ``serving.on_request_thread``): generation
goes one doctor-day at a time, so whatever else uses that thread waits at most one day's
transaction behind it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings

from rendezvous.agenda import Generation, etapes_generation
from rendezvous.reminders import send_due_reminders

logger = logging.getLogger(__name__)
_task: asyncio.Task | None = None
_generation_task: asyncio.Task | None = None

# Each loop's last turn, for /readyz (operations/health.py): name -> (time.monotonic() of
# the beat, the loop's interval in seconds). A loop stuck in a pass stops beating.
# RETENUES is attente/scheduler.py's loop (lapsed holds, waiting-list offers).
REMINDERS = "reminder_scheduler"
GENERATION = "slot_generation"
RETENUES = "hold_scheduler"
heartbeats: dict[str, tuple[float, float]] = {}


def beat(name: str, interval: float) -> None:
    heartbeats[name] = (time.monotonic(), float(interval))


async def _loop(interval: float) -> None:
    while True:
        beat(REMINDERS, interval)
        try:
            await sync_to_async(send_due_reminders)()
        except Exception:
            logger.exception("reminder pass failed")
        await asyncio.sleep(interval)


def start_reminders() -> None:
    global _task
    if _task is None and settings.REMINDERS_IN_SERVER:
        beat(REMINDERS, settings.REMINDER_INTERVAL_SECONDS)
        _task = asyncio.get_running_loop().create_task(_loop(settings.REMINDER_INTERVAL_SECONDS))


_DONE = object()


def _step(steps):
    return next(steps, _DONE)


async def generation_pass() -> Generation:
    """One generation run (every doctor with hours), a step per call on the sync thread."""
    steps = etapes_generation()  # a generator: nothing runs until the first step
    total = Generation()
    while (step := await sync_to_async(_step)(steps)) is not _DONE:
        total += step
    return total


async def _generation_loop(interval: float) -> None:
    while True:
        beat(GENERATION, interval)
        try:
            done = await generation_pass()
            if done.crees or done.ignores:
                logger.info("slot generation: %d created, %d taken by another writer", done.crees, done.ignores)
        except Exception:
            logger.exception("slot generation pass failed")
        await asyncio.sleep(interval)


def start_generation() -> None:
    """At start, then every ``CRENEAUX_GENERATION_SECONDS`` (0: never in the server)."""
    global _generation_task
    if _generation_task is None and settings.CRENEAUX_GENERATION_SECONDS > 0:
        beat(GENERATION, settings.CRENEAUX_GENERATION_SECONDS)
        _generation_task = asyncio.get_running_loop().create_task(
            _generation_loop(settings.CRENEAUX_GENERATION_SECONDS))
