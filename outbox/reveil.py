"""Waking the in-server sender when rows commit, instead of waiting for its next tick.

``signaler()`` is called on commit (from a request thread, the scheduler's thread...);
the worker's loop, on the server's event loop, waits on ``attendre(interval)``. In a
process without the worker (``manage.py``), it does nothing.
"""

from __future__ import annotations

import asyncio

_loop: asyncio.AbstractEventLoop | None = None
_event: asyncio.Event | None = None


def installer() -> None:
    """Called by the worker on the serving loop, once."""
    global _loop, _event
    _loop = asyncio.get_running_loop()
    _event = asyncio.Event()


def signaler() -> None:
    loop, event = _loop, _event
    if loop is None or event is None or loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(event.set)
    except RuntimeError:  # the loop closed meanwhile (shutdown)
        pass


async def attendre(timeout: float) -> None:
    """Until woken or ``timeout`` seconds, whichever comes first."""
    assert _event is not None
    try:
        await asyncio.wait_for(_event.wait(), timeout)
    except TimeoutError:
        pass
    _event.clear()
