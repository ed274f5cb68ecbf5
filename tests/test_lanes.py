"""The e2e lane: tests that start processes carry the mark (tests/conftest.py), so that
``pytest -m "not e2e"`` starts none."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from .conftest import UnmarkedProcessError, mark_process_tests


def test_an_unmarked_test_cannot_start_a_process():
    with pytest.raises(UnmarkedProcessError, match=r"test_lanes.py::test_an_unmarked_test.*e2e mark"):
        subprocess.run([sys.executable, "-c", "pass"])
    with pytest.raises(UnmarkedProcessError):
        os.system("true")


async def test_nor_an_asyncio_subprocess():
    with pytest.raises(UnmarkedProcessError):
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")


@pytest.mark.e2e
def test_a_marked_test_can():
    assert subprocess.run([sys.executable, "-c", "raise SystemExit(3)"]).returncode == 3


class Item:
    def __init__(self, *fixturenames: str) -> None:
        self.fixturenames = list(fixturenames)
        self.marks: list[str] = []

    def add_marker(self, mark) -> None:
        self.marks.append(mark.name)


def test_tests_using_a_live_stack_are_marked_e2e():
    items = [Item("db", "live"), Item("cluster", "requires_redis"), Item("db", "world"), Item()]
    mark_process_tests(items)
    assert [item.marks for item in items] == [["e2e"], ["e2e"], [], []]
