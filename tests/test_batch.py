"""serving.batch.Batched: the socket server's token checks grouped while earlier ones are
on a request thread (realtime/server.py; the query side in tests/test_token_revocation.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from serving.batch import Batched


class Many:
    """A ``many`` whose batches can be held on their thread, recording what each received."""

    def __init__(self) -> None:
        self.calls: list[list] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, items: list) -> list:
        self.calls.append(list(items))
        self.release.wait(10)
        if "boom" in items:
            raise ValueError("database gone")
        return [item * 2 for item in items]


def test_a_lone_call_goes_at_once_in_a_batch_of_its_own():
    many = Many()
    batched = Batched(many, lanes=2)
    assert asyncio.run(batched(21)) == 42
    assert many.calls == [[21]] and batched.batches == 1 and batched.running == 0


def test_calls_made_while_every_lane_is_busy_go_together_each_with_its_own_result():
    many = Many()
    batched = Batched(many, lanes=1, limit=3)

    async def scenario():
        many.release.clear()
        first = asyncio.ensure_future(batched(1))
        await asyncio.sleep(0.05)  # the first batch is on its thread, held
        later = [asyncio.ensure_future(batched(n)) for n in range(2, 7)]
        await asyncio.sleep(0.05)
        many.release.set()
        return await first, await asyncio.gather(*later)

    first, later = asyncio.run(scenario())
    assert first == 2 and later == [4, 6, 8, 10, 12]
    assert many.calls == [[1], [2, 3, 4], [5, 6]]  # queued calls together, at most `limit`
    assert batched.batches == 3 and batched.running == 0 and batched.waiting == []


def test_a_failed_batch_fails_its_own_calls_only_and_a_caller_that_left_is_skipped():
    many = Many()
    batched = Batched(many, lanes=1)

    async def scenario():
        many.release.clear()
        doomed = [asyncio.ensure_future(batched(x)) for x in ("boom", 2)]  # 2 waits: the lane is busy
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(batched(3))
        kept = asyncio.ensure_future(batched(4))
        await asyncio.sleep(0)
        gone.cancel()
        many.release.set()
        results = await asyncio.gather(*doomed, return_exceptions=True)
        return results, await kept, gone.cancelled()

    results, kept, cancelled = asyncio.run(scenario())
    assert many.calls == [["boom"], [2, 3, 4]]
    assert isinstance(results[0], ValueError) and results[1] == 4
    assert kept == 8 and cancelled


def test_a_many_that_loses_results_fails_the_batch_rather_than_misassigning_them():
    batched = Batched(lambda items: items[1:], lanes=1)
    with pytest.raises(RuntimeError, match="gave 0 results for 1 items"):
        asyncio.run(batched(5))
    assert batched.running == 0
