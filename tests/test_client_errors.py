"""serving/client_errors.py: one line per client error, rate-limited, with a count of
what was left out, and never the client's token in the log."""

from __future__ import annotations

import logging

from serving import client_errors
from serving.client_errors import RateLimitedLog, excerpt


def test_at_most_n_lines_per_interval_then_one_line_with_the_count(settings, monkeypatch, caplog):
    settings.SOCKETIO_CLIENT_ERROR_LOG_LINES = 3
    settings.SOCKETIO_CLIENT_ERROR_LOG_SECONDS = 60
    now = [1000.0]
    monkeypatch.setattr(client_errors.time, "monotonic", lambda: now[0])
    log = RateLimitedLog(logging.getLogger("test.client_errors"))
    with caplog.at_level(logging.WARNING, logger="test.client_errors"):
        for i in range(10):
            log.report("bad packet %d", i)
        assert [r.getMessage() for r in caplog.records] == [
            "socket client error: bad packet 0", "socket client error: bad packet 1",
            "socket client error: bad packet 2"]
        now[0] += 61  # the next interval: the count of the left-out ones, then lines again
        log.report("bad packet %d", 10)
    assert [r.getMessage() for r in caplog.records][3:] == [
        "socket client errors: 7 more in the last 60 s, not logged one by one",
        "socket client error: bad packet 10"]
    assert all(r.exc_info is None for r in caplog.records)  # never a traceback
    assert log.total == 11


def test_excerpts_are_short_escaped_and_never_show_a_token():
    assert excerpt("42[\"x\"]\n") == "'42[\"x\"]\\n'"
    assert excerpt("9" * 100) == repr("9" * 40) + "…"
    assert excerpt(b"\x00\xff") == "b'\\x00\\xff'"
    secret = '40{"token":"eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJl"}'
    assert excerpt(secret) == f"<{len(secret)} chars with a token>"
    assert excerpt(secret.encode()) == f"<{len(secret)} bytes with a token>"
    assert excerpt({"a": 1}) == "dict"
