"""The metrics the code records into, in prometheus-client's default registry.

One process, one registry: each daphne process counts its own requests, events and
sockets, and is scraped on its own port (no shared multiprocess directory). Nothing here
imports the project, so ``realtime`` records without an import cycle. Every recorder is
a no-op under ``METRICS_ENABLED=false`` (for the overhead figure in bench/README.md).

Label values are bounded: event names come from ``realtime/catalogue.py`` (about fifteen), routes are the
URL patterns (``/api/rendezvous/<id:pk>/``, never the raw path), methods a fixed set.
"""

from __future__ import annotations

import time
from datetime import datetime

from django.conf import settings
from prometheus_client import Counter, Histogram

EVENTS_PUBLISHED = Counter(
    "realtime_events_published",
    "Events handed to the bus once their transaction committed (realtime/events.py send_events), "
    "by name.",
    ["event"],
)
EVENTS_DELIVERED = Counter(
    "realtime_events_delivered",
    "Socket writes of events by this process, by name: one per socket reached (live, bus "
    "catch-up and replay on reconnect).",
    ["event"],
)
DELIVERY_LAG = Histogram(
    "realtime_event_delivery_lag_seconds",
    "From an event's write in its transaction (its emittedAt, just before the commit) to this "
    "process handing it to its sockets, once per event and process (live and bus catch-up), by name.",
    ["event"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Django requests of this process, from the outermost middleware in to the response out, by "
    "method, route (the URL pattern) and status class.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def enabled() -> bool:
    return settings.METRICS_ENABLED


def count_published(names: list[str]) -> None:
    """After the commit of ``send_events``' transaction: one per event."""
    if not settings.METRICS_ENABLED:
        return
    for name in names:
        EVENTS_PUBLISHED.labels(name).inc()


def count_delivered(event: str, sockets: int) -> None:
    """One call per event and delivery pass: ``sockets`` writes."""
    if sockets and settings.METRICS_ENABLED:
        EVENTS_DELIVERED.labels(event).inc(sockets)


def observe_delivery(message: dict) -> None:
    """The lag of one event handed to this process's sockets (a python-socketio emit
    message whose first argument is the event's payload)."""
    if not settings.METRICS_ENABLED:
        return
    data = message.get("data")
    payload = data[0] if isinstance(data, list) and data else None
    emitted = payload.get("emittedAt") if isinstance(payload, dict) else None
    if not isinstance(emitted, str):
        return  # not a logged event (nothing of ours emits those)
    try:
        lag = time.time() - datetime.fromisoformat(emitted).timestamp()
    except ValueError:
        return
    # max: the clocks of two machines may disagree a little
    DELIVERY_LAG.labels(message.get("event") or "").observe(max(lag, 0.0))


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    if not settings.METRICS_ENABLED:
        return
    HTTP_DURATION.labels(method if method in METHODS else "OTHER", route, f"{status // 100}xx").observe(seconds)
