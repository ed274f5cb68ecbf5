"""Group commit for the socket server's reads: calls that arrive while earlier ones are on
a request thread go together, in one thread trip and one query.

A reconnect storm brings thousands of connects within seconds, each with a token to check
against the database. One at a time, each paid a trip to a request thread and a query of
its own; the database's per-query cost (parse, plan, a round trip, a backend wake-up) then
outweighed the work (bench/README.md, "Third round"). :class:`Batched` runs ``many`` on at
most ``lanes`` batches at once; a call made while they are all busy waits for the next
batch, which takes every call queued by then (up to ``limit``). A lone call, with a lane
free, goes at once: nothing waits for a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batched(Generic[T, R]):
    """``await batched(item)``: ``many([item, ...])[i]``, ``many`` run on a request thread
    (``serving.on_request_thread``) for a batch of items. ``many`` returns one result per
    item, in order; if it raises, every call of that batch raises it."""

    def __init__(self, many: Callable[[list[T]], list[R]], *, lanes: int = 2, limit: int = 200) -> None:
        self.many, self.lanes, self.limit = many, lanes, limit
        self.waiting: list[tuple[T, asyncio.Future]] = []
        self.running = 0
        self.batches = 0  # how many trips (tests, benches)

    async def __call__(self, item: T) -> R:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((item, future))
        self._start()
        return await future

    def _start(self) -> None:
        while self.waiting and self.running < self.lanes:
            batch, self.waiting = self.waiting[:self.limit], self.waiting[self.limit:]
            self.running += 1
            self.batches += 1
            asyncio.ensure_future(self._run(batch))

    async def _run(self, batch: list[tuple[T, asyncio.Future]]) -> None:
        from . import on_request_thread

        try:
            results = await on_request_thread(self.many, [item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{self.many.__name__} gave {len(results)} results for {len(batch)} items")
        except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():  # a caller that gave up (its socket closed) is skipped
                    future.set_result(result)
        finally:
            self.running -= 1
            self._start()
