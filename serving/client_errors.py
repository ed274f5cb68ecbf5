"""Client errors on sockets: one line each, rate-limited, never a traceback.

A malformed Engine.IO/Socket.IO packet is the client's fault, and anyone can send them
without authenticating: logging a traceback for each turned 1,000 tiny packets into
2 MB of log. Protocol errors are logged here as one line each (the kind of error and a
short, escaped excerpt), at most ``SOCKETIO_CLIENT_ERROR_LOG_LINES`` per
``SOCKETIO_CLIENT_ERROR_LOG_SECONDS``; past that, one line at the end of the interval
says how many were left out. Server bugs keep their tracebacks (they are not reported
here).
"""

from __future__ import annotations

import asyncio
import logging
import time

from django.conf import settings

logger = logging.getLogger(__name__)

EXCERPT = 40
# The settings' defaults, for a process without Django settings (the transport alone, as
# the conformance kit's bare peer runs it): reporting must not raise there.
DEFAULT_LINES, DEFAULT_SECONDS = 20, 60


def limits() -> tuple[int, int]:
    """(lines, seconds): at most that many lines per interval."""
    if not settings.configured:
        return DEFAULT_LINES, DEFAULT_SECONDS
    return settings.SOCKETIO_CLIENT_ERROR_LOG_LINES, settings.SOCKETIO_CLIENT_ERROR_LOG_SECONDS


def excerpt(data: object) -> str:
    """A short, escaped view of what the client sent (``repr``: no newline gets in the
    log); never a token (a CONNECT's auth), only its size then."""
    if isinstance(data, str | bytes):
        if ("token" if isinstance(data, str) else b"token") in data:
            return f"<{len(data)} {'chars' if isinstance(data, str) else 'bytes'} with a token>"
        text = repr(data[:EXCERPT])
        return text + ("…" if len(data) > EXCERPT else "")
    return type(data).__name__


class RateLimitedLog:
    def __init__(self, log: logging.Logger) -> None:
        self.log = log
        self.window_start = -1e18
        self.logged = 0
        self.suppressed = 0
        self.total = 0
        self._timer: asyncio.TimerHandle | None = None

    def report(self, message: str, *args: object) -> None:
        self.total += 1
        lines, seconds = limits()
        now = time.monotonic()
        if now - self.window_start >= seconds:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self.flush()
            self.window_start = now
        if self.logged < lines:
            self.logged += 1
            self.log.warning("socket client error: " + message, *args)
            return
        self.suppressed += 1
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._timer = loop.call_later(max(0.0, self.window_start + seconds - now), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()
        self.window_start = -1e18

    def flush(self) -> None:
        """Close the current interval: say how many errors were left out of the log."""
        if self.suppressed:
            self.log.warning("socket client errors: %d more in the last %d s, not logged one by one",
                             self.suppressed, limits()[1])
        self.logged = 0
        self.suppressed = 0


client_errors = RateLimitedLog(logger)


def report(message: str, *args: object) -> None:
    client_errors.report(message, *args)
