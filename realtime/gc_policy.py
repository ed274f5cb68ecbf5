"""When the serving process pays for full garbage collections.

A full (generation 2) collection stops the event loop for as long as it takes to walk
every tracked object: ~65 ms for Django, DRF, Twisted and python-socketio's code objects
alone on the bench machine, 200-300 ms with 1,000 sockets connected. CPython starts one
whenever enough objects have survived into the oldest generation, so one lands in the
middle of traffic at a moment nobody chose: it was the booking bench's p99.

The policy, in the serving process only (not in tests or management commands):

- ``gc.freeze()`` once the server is up: the start-up heap (modules, classes, functions,
  settings), which lives as long as the process anyway, is never walked again;
- automatic collections keep their young generations (0 and 1, a few ms each) but no
  longer escalate to a full one;
- a full collection runs every ``GC_FULL_INTERVAL_SECONDS`` (300 s by default) on the
  loop, so reference cycles that reached the old generation are still reclaimed.

``GC_FULL_INTERVAL_SECONDS=0`` keeps CPython's own policy (and no freeze).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

logger = logging.getLogger(__name__)
NEVER = 2**31 - 1  # generation-2 threshold: the count of gen-1 collections never reaches it

_installed = False


def install(interval: float) -> bool:
    """Freeze the start-up heap and schedule full collections; once per process."""
    global _installed
    if _installed or interval <= 0:
        return False
    _installed = True
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)
    asyncio.get_running_loop().call_later(interval, _full_collection, interval)
    return True


def _full_collection(interval: float) -> None:
    started = time.perf_counter()
    found = gc.collect(2)
    logger.info("full collection: %d unreachable, %.1f ms", found, (time.perf_counter() - started) * 1e3)
    asyncio.get_running_loop().call_later(interval, _full_collection, interval)
