"""Readiness: may a load balancer send this process traffic?

Three questions, each bounded in time (``READYZ_TIMEOUT``), so that a hung dependency
makes ``/readyz`` answer 503 instead of hanging the probe:

- the database answers ``SELECT 1`` (on a thread of its own, which connects, asks and
  closes: a request thread stuck on a dead database would hang the probe with it, and a
  probe must see a new connection work, not an old one survive);
- the bus answers: Redis ``PING`` when ``REDIS_URL`` is set (the channel layer's server);
  the embedded in-memory layer always does;
- the in-server schedulers are alive: reminders and slot generation
  (realtime/scheduler.py), lapsed holds and waiting-list offers (attente/scheduler.py,
  ``hold_scheduler``). Each loop beats at every turn (``realtime.scheduler.beat``), and a
  beat older than three intervals means it is stuck or dead. One turned off by its
  setting (``REMINDERS_IN_SERVER``, ``CRENEAUX_GENERATION_SECONDS`` or
  ``RETENUES_INTERVAL_SECONDES`` at 0: cron does the work) is reported off, not failed. A
  process that serves no sockets (tests, ``manage.py``) runs no scheduler, and that is no
  fault.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from django.conf import settings
from django.db import connection

from realtime import scheduler
from realtime.bus import bus

_db_pending: Future | None = None
_db_lock = threading.Lock()
_redis_clients: dict[tuple[str, float], Any] = {}  # (url, timeout) -> client (with its pool)


def _failure(exc: BaseException) -> dict[str, Any]:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return {"ok": False, "error": f"{type(exc).__name__}: {text}" if text else type(exc).__name__}


def _select_one() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()


def _check_into(future: Future) -> None:
    try:
        _select_one()
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(None)


def check_database(timeout: float) -> dict[str, Any]:
    """``SELECT 1`` through the ORM, given up after ``timeout``. While a check that timed
    out is still stuck, the next ones fail at once instead of queueing behind it."""
    global _db_pending
    with _db_lock:
        if _db_pending is not None and not _db_pending.done():
            return {"ok": False, "error": "la vérification précédente attend encore la base"}
        _db_pending = future = Future()
        # A daemon thread, not an executor's: a check stuck on a dead database must not
        # hold the process at exit (executor threads are joined then).
        threading.Thread(target=_check_into, args=(future,), name="readyz-db", daemon=True).start()
    try:
        future.result(timeout=timeout)
    except FutureTimeout:
        return {"ok": False, "error": f"pas de réponse en {timeout:g} s"}
    except Exception as exc:
        return _failure(exc)
    return {"ok": True}


def check_bus(timeout: float) -> dict[str, Any]:
    """Redis ``PING`` (the channel layer's server), or the embedded layer (always there)."""
    if not settings.REDIS_URL:
        return {"ok": True, "backend": "memory"}
    try:
        client = _redis_clients.get((settings.REDIS_URL, timeout))
        if client is None:
            import redis

            client = _redis_clients[(settings.REDIS_URL, timeout)] = redis.Redis.from_url(
                settings.REDIS_URL, socket_connect_timeout=timeout, socket_timeout=timeout)
        client.ping()
    except Exception as exc:
        return {**_failure(exc), "backend": "redis"}
    return {"ok": True, "backend": "redis"}


def scheduler_state(name: str, enabled: bool, beat: tuple[float, float] | None, serving: bool,
                    now: float) -> dict[str, Any]:
    """One scheduler: off by configuration, not in this process, alive, or stuck."""
    if not enabled:
        return {"ok": True, "enabled": False}
    if beat is None:
        if not serving:
            return {"ok": True, "running": False}  # no socket server here: nothing to schedule
        return {"ok": False, "error": "planificateur non démarré"}
    at, interval = beat
    age = max(0.0, now - at)
    state = {"ok": age <= 3 * interval, "last_beat_seconds": round(age, 1), "interval_seconds": interval}
    if not state["ok"]:
        state["error"] = f"aucun tour depuis {age:.0f} s (plus de 3 × {interval:g} s)"
    return state


def check_schedulers(now: float | None = None) -> dict[str, dict[str, Any]]:
    now = time.monotonic() if now is None else now
    enabled = {scheduler.REMINDERS: settings.REMINDERS_IN_SERVER,
               scheduler.GENERATION: settings.CRENEAUX_GENERATION_SECONDS > 0,
               scheduler.RETENUES: settings.RETENUES_INTERVAL_SECONDES > 0}
    return {name: scheduler_state(name, on, scheduler.heartbeats.get(name), bus.attached, now)
            for name, on in enabled.items()}


def readiness(*, details: bool) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Every check; ``details`` False keeps error texts to the exception's type (a
    public probe learns that the database is down, not where it lives)."""
    timeout = settings.READYZ_TIMEOUT
    checks = {"database": check_database(timeout), "bus": check_bus(timeout), **check_schedulers()}
    if not details:
        for check in checks.values():
            if "error" in check:
                check["error"] = check["error"].split(":", 1)[0]
    return all(check["ok"] for check in checks.values()), checks
