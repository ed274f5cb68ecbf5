"""Operations against live daphne processes: readiness with the schedulers really beating,
/readyz naming an unreachable Redis, the socket gauge and event counters moved by exact
amounts by real sockets, and JSON log lines on the server's output."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import has_postgres
from .live import ROOT, Server, free_port, http, manage, service_env, start_stack
from .rt import Party

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def ops_stack(tmp_path_factory):
    """One embedded-mode server (its own, so no other test's sockets count) with JSON logs
    and request lines on."""
    stack = start_stack(tmp_path_factory.mktemp("ops"), postgres=has_postgres(),
                        extra_env={"LOG_FORMAT": "json", "ACCESS_LOG": "1"})
    yield stack
    stack.close()


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """name -> {sorted label items: value}, every sample of the exposition."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def test_readyz_live_all_checks_ok(ops_stack):
    status, body = http("GET", f"{ops_stack.url}/readyz")
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["bus"] == {"ok": True, "backend": "memory"}
    # hold_scheduler: attente/scheduler.py (RETENUES_INTERVAL_SECONDES, 5 s by default).
    for name, interval in (("reminder_scheduler", 30), ("slot_generation", 3600), ("hold_scheduler", 5)):
        check = body["checks"][name]
        assert check["ok"] is True and check["interval_seconds"] == interval, check
        assert 0 <= check["last_beat_seconds"] <= 3 * interval, check
    status, body = http("GET", f"{ops_stack.url}/healthz")
    assert (status, body) == (200, {"status": "ok"})


async def test_socket_gauge_and_event_counters_move_by_exact_amounts(ops_stack):
    url = ops_stack.url
    party = Party(url)
    before = scrape(url)
    assert value(before, "realtime_sockets_connected") == 0
    try:
        alice, bob = await party.connect("alice", "bob")
        connected = scrape(url)
        assert value(connected, "realtime_sockets_connected") == 2
        assert value(connected, "realtime_engineio_sockets") == 2
        # each has at least its own user room and the patients' role room
        assert value(connected, "realtime_rooms") >= 3

        status, event = party.api("admin", "POST", "notifications/broadcast/", {"message": "métriques"})
        assert status == 201, event
        for client in (alice, bob):
            await client.wait_for("notification:general", lambda p: p["eventId"] == event["id"])
        after = scrape(url)
    finally:
        await party.close()

    name = "notification:general"
    assert value(after, "realtime_events_published_total", event=name) == \
        value(before, "realtime_events_published_total", event=name) + 1
    assert value(after, "realtime_events_delivered_total", event=name) == \
        value(before, "realtime_events_delivered_total", event=name) + 2  # two sockets
    assert value(after, "realtime_event_delivery_lag_seconds_count", event=name) == \
        value(before, "realtime_event_delivery_lag_seconds_count", event=name) + 1  # one emit here
    route = {"method": "POST", "route": "/api/notifications/broadcast/", "status": "2xx"}
    assert value(after, "http_request_duration_seconds_count", **route) == \
        value(before, "http_request_duration_seconds_count", **route) + 1
    assert "reminders_due_unsent" in after

    # Disconnected: the gauges come back down.
    for _ in range(100):
        gone = scrape(url)
        if value(gone, "realtime_sockets_connected") == 0:
            break
        await asyncio.sleep(0.05)
    assert value(gone, "realtime_sockets_connected") == 0
    assert value(gone, "realtime_rooms") == 0


def test_json_log_lines_with_request_fields(ops_stack):
    party = Party(ops_stack.url)
    status, me = party.api("alice", "GET", "me/")
    assert status == 200
    status, _ = http("GET", f"{ops_stack.url}/api/rendezvous/999999/")
    assert status == 401
    lines = [line for line in ops_stack.servers[0].log.read_text().splitlines() if line.strip()]
    # Every log line is one JSON object (libraries that print rather than log are not ours).
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    requests = [line for line in parsed if line["logger"] == "access"]
    mine = [line for line in requests if line["route"] == "/api/me/" and line["user_id"] == me["id"]]
    assert mine, requests[-5:]
    line = mine[-1]
    assert line["method"] == "GET" and line["status"] == 200 and line["level"] == "INFO"
    assert len(line["request_id"]) == 32 and isinstance(line["duration_ms"], float)
    anonymous = [r for r in requests if r["route"] == "/api/rendezvous/<id:pk>/" and r["status"] == 401]
    assert anonymous and anonymous[-1]["user_id"] is None
    assert "999999" not in json.dumps(anonymous[-1])  # the route, never the path


def test_readyz_names_an_unreachable_redis_live(tmp_path):
    env, cleanup = service_env(tmp_path, postgres=False, redis=False)
    server = None
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        closed = free_port()  # nobody listens there
        server = Server(env={**env, "REDIS_URL": f"redis://127.0.0.1:{closed}/0",
                             "SECRET_KEY": secrets.token_urlsafe(64), "READYZ_TIMEOUT": "1"},
                        port=free_port(), log=tmp_path / "daphne.log").start()
        status, body = http("GET", f"{server.url}/readyz")
        assert status == 503, body
        assert body["code"] == "service_non_pret" and body["status"] == "degraded"
        assert body["message"] == "Service pas prêt : bus (Redis)"
        assert body["checks"]["bus"]["ok"] is False and body["checks"]["bus"]["backend"] == "redis"
        assert "ConnectionError" in body["checks"]["bus"]["error"]
        assert body["checks"]["database"] == {"ok": True}
        assert (http("GET", f"{server.url}/healthz")) == (200, {"status": "ok"})  # alive all the same
    finally:
        if server is not None:
            server.stop()
        cleanup()


def settings_of(env: dict, code: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_ENV", "LOG_FORMAT",
                         "METRICS_ALLOWED_IPS"}}
    return subprocess.run([sys.executable, "manage.py", "shell", "-v", "0", "-c",
                           f"from django.conf import settings as s; print({code})"],
                          cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120)


def test_log_format_defaults_and_refusals():
    assert settings_of({}, "s.LOG_FORMAT").stdout.strip() == "text"  # make run
    production = {"DJANGO_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(64)}
    assert settings_of(production, "s.LOG_FORMAT").stdout.strip() == "json"
    assert settings_of({**production, "LOG_FORMAT": "text"}, "s.LOG_FORMAT").stdout.strip() == "text"
    for env, message in (({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be text or json"),
                         ({"METRICS_ALLOWED_IPS": "127.0.0.1,localhost"}, "'localhost' is not an IP")):
        result = settings_of(env, "s.LOG_FORMAT")
        assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr, result.stderr[-2000:]
        assert message in result.stderr, result.stderr[-2000:]


async def test_two_processes_count_on_their_own_registries(tmp_path, requires_postgres, requires_redis):
    """One process, one registry: the publishing server counts the publication, each server
    the deliveries to its own sockets, across the Redis bus."""
    stack = start_stack(tmp_path, servers=2, postgres=True, redis=True)
    party = Party(stack.url)
    name = "notification:general"
    try:
        a, b = (server.url for server in stack.servers)
        before = [scrape(a), scrape(b)]
        await party.connect("alice", url=a)
        await party.connect("bob", url=b)
        connected = [scrape(a), scrape(b)]
        assert [value(s, "realtime_sockets_connected") for s in connected] == [1, 1]
        status, event = party.api("admin", "POST", "notifications/broadcast/", {"message": "deux"}, url=a)
        assert status == 201, event
        for client in party.clients.values():
            await client.wait_for(name, lambda p: p["eventId"] == event["id"])
        after = [scrape(a), scrape(b)]
    finally:
        await party.close()
        stack.close()

    def moved(metric: str, i: int, **labels) -> float:
        return value(after[i], metric, **labels) - value(before[i], metric, **labels)

    assert [moved("realtime_events_published_total", i, event=name) for i in (0, 1)] == [1, 0]
    assert [moved("realtime_events_delivered_total", i, event=name) for i in (0, 1)] == [1, 1]
    assert [moved("realtime_event_delivery_lag_seconds_count", i, event=name) for i in (0, 1)] == [1, 1]
