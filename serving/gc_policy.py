"""When the serving process pays for full garbage collections.

A full (generation 2) collection stops the event loop for as long as it takes to walk
every tracked object: ~65 ms for Django, DRF, Twisted and python-socketio's code objects
alone on the bench machine, 200-300 ms with 1,000 sockets connected. CPython starts one
whenever enough objects have survived into the oldest generation, so one lands in the
middle of traffic at a moment nobody chose: it was the booking bench's p99.

The policy, in the serving process only (``serving.start``; not in tests or management commands):

- ``gc.freeze()`` once the server is up: the start-up heap (modules, classes, functions,
  settings), which lives as long as the process anyway, is never walked again;
- automatic collections keep their young generations (0 and 1, a few ms each) but no
  longer escalate to a full one;
- a full collection runs every ``GC_FULL_INTERVAL_SECONDS`` (300 s by default) on the
  loop, so reference cycles that reached the old generation are still reclaimed;
- and sooner once the interpreter holds ``GC_FULL_GROWTH_BLOCKS`` more memory blocks
  (``sys.getallocatedblocks``, about one per small object) than after the last one:
  every closed websocket leaves ~85 objects (~170 blocks) in reference cycles (daphne,
  Twisted, autobahn), so a connection flood (a fuzzer: ~350 connections a second) would
  otherwise grow the heap by ~1 GB before the timer. Counted in blocks rather than RSS:
  RSS does not come down after a collection (freed memory is kept for reuse), so an
  RSS threshold would ratchet up by its step at every collection;
- that step is at least a quarter of the heap the last collection left (CPython's own
  rule for its oldest generation): a full collection walks the whole heap, so with a
  fixed step a heap growing by live objects (10,000 sockets reconnecting at once, ~10
  million blocks) paid one walk of an ever larger heap every step, quadratic in the
  sockets (10 % of the event loop in a reconnect storm, bench/README.md "Reconnect
  storm"); growing by a fraction keeps the walks' total proportional to the heap, and
  garbage below a quarter of what lives.

``GC_FULL_INTERVAL_SECONDS=0`` keeps CPython's own policy (and no freeze).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time

logger = logging.getLogger(__name__)
NEVER = 2**31 - 1  # generation-2 threshold: the count of gen-1 collections never reaches it
CHECK_SECONDS = 1.0
GROWTH_FRACTION = 0.25  # of the blocks the last full collection left (CPython's own ratio)

_installed = False


def install(interval: float, growth_blocks: int = 0) -> bool:
    """Freeze the start-up heap and schedule full collections; once per process."""
    global _installed
    if _installed or interval <= 0:
        return False
    _installed = True
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)
    _Schedule(asyncio.get_running_loop(), interval, growth_blocks)
    return True


class _Schedule:
    """Full collections every ``interval`` seconds, or once ``growth`` more memory blocks
    (or a quarter more, if that is more) are allocated than after the last one (looked at
    once a second)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float, growth: int) -> None:
        self.loop, self.interval, self.growth = loop, interval, growth
        self.timer = loop.call_later(interval, self.collect, "scheduled")
        self.baseline = sys.getallocatedblocks()
        if growth:
            loop.call_later(CHECK_SECONDS, self.watch)

    def step(self) -> int:
        return max(self.growth, int(self.baseline * GROWTH_FRACTION))

    def watch(self) -> None:
        if sys.getallocatedblocks() - self.baseline > self.step():
            self.timer.cancel()
            self.collect("allocations grew")
        self.loop.call_later(CHECK_SECONDS, self.watch)

    def collect(self, why: str) -> None:
        started = time.perf_counter()
        found = gc.collect(2)
        logger.info("full collection (%s): %d unreachable, %.1f ms", why, found,
                    (time.perf_counter() - started) * 1e3)
        self.baseline = sys.getallocatedblocks()
        self.timer = self.loop.call_later(self.interval, self.collect, "scheduled")
