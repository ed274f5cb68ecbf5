"""The in-server sender: every server process sends the outbox every
``OUTBOX_INTERVAL_SECONDS`` (0: never; cron runs ``manage.py send_outbox`` instead), and
at once when a transaction of this process commits new rows (``reveil``); rows committed
by another process wait for the interval (or that process's own sender).

The database work (claim, then mark each row) runs on asgiref's shared sync thread, like
the reminder scheduler: no connection beyond the process's ``REQUEST_THREADS + 1``. The
network work (SMTP, the SMS provider) runs on a thread of its own that never touches the
database, so a slow or hanging mail server (up to ``EMAIL_TIMEOUT``) holds up neither
socket authentication nor room checks.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from . import reveil
from .services import Bail, Passe, essayer, noter, purger, reclamer, relacher

logger = logging.getLogger(__name__)
_task: asyncio.Task | None = None
_network: ThreadPoolExecutor | None = None


async def envoyer_dus_async() -> Passe:
    """Batches until none is due: claim (database thread), send (network thread), mark."""
    loop = asyncio.get_running_loop()
    total = Passe()
    while True:
        now = timezone.now()
        envois = await sync_to_async(reclamer)(now, settings.OUTBOX_BATCH)
        if not envois:
            return total
        bail = Bail()
        for i, envoi in enumerate(envois):
            if not bail.assez_pour_un_envoi():
                await sync_to_async(relacher)(envois[i:])
                return total
            erreur = await loop.run_in_executor(_network, essayer, envoi)
            await sync_to_async(noter)(total, envoi, timezone.now(), erreur)


PURGE_SECONDS = 3600


async def _loop(interval: float) -> None:
    last_purge = None
    while True:
        try:
            done = await envoyer_dus_async()
            if done.total:
                logger.info("outbox: %d sent, %d to retry, %d failed", done.envoyes, done.reessais, done.echecs)
            now = asyncio.get_running_loop().time()
            if last_purge is None or now - last_purge >= PURGE_SECONDS:
                last_purge = now
                await sync_to_async(purger)()
        except Exception:
            logger.exception("outbox pass failed")
        await reveil.attendre(interval)  # the interval, or sooner: new rows committed


def start_outbox() -> None:
    """Called once by the serving process at start (medical_booking/asgi.py)."""
    global _task, _network
    if _task is None and settings.OUTBOX_INTERVAL_SECONDS > 0:
        _network = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-smtp")
        reveil.installer()
        _task = asyncio.get_running_loop().create_task(_loop(settings.OUTBOX_INTERVAL_SECONDS))
