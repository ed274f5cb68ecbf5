"""No silent loss when the bus fails: two daphne servers on PostgreSQL and a Redis of
this test's own, sockets of every role on both, events produced continuously through
REST on both servers while Redis is stopped for 5 s and started again (and later while
its connections are cut). At the end every socket got every event addressed to it
exactly once (compared with the event log), and none was ever disconnected.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from .live import free_port, start_stack
from .rt import Party, fresh_slot
from .test_node_client import NodeClient
from .test_node_client import node_bin as node_bin  # the fixture

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]

OUTAGE_SECONDS = 5.0
USERS = ("alice", "bob", "chloe", "martin", "bernard", "secretariat", "admin")


class PrivateRedis:
    """A redis-server on a free port, without persistence: a restart loses every key
    (group memberships, queued messages), as a crashed Redis does."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for this test"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)],
            stdout=(self.dir / "redis.log").open("ab"), stderr=subprocess.STDOUT,
        )
        import redis

        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def cut_connections(self) -> int:
        import redis

        return redis.Redis(port=self.port).client_kill_filter(_type="normal")


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def outage_stack(tmp_path, private_redis, requires_postgres, requires_redis):
    stack = start_stack(tmp_path, servers=2, postgres=True, redis=True,
                        extra_env={"REDIS_URL": private_redis.url})
    yield stack
    stack.close()


def rooms_of(me: dict) -> set[str]:
    """The automatic rooms of a user (realtime.rooms.auto_rooms, from /api/me/)."""
    rooms = {f"user:{me['id']}", f"role:{me['role']}"}
    if me["role"] != "SUPERADMIN":
        rooms.add(f"{me['role'].lower()}:{me['id']}")
    if me["role"] in ("MEDECIN", "ADMINCABINET") and me["cabinet"]:
        rooms.add(f"cabinet:{me['cabinet']}")
    return rooms


def event_log(database_url: str, after: int, upto: int) -> dict[int, tuple[str, bool, set[str]]]:
    """id -> (name, to everyone, rooms), from the log the servers wrote."""
    with psycopg.connect(database_url) as conn:
        events = {i: (name, everyone, set()) for i, name, everyone in conn.execute(
            "SELECT id, name, to_everyone FROM realtime_event WHERE id > %s AND id <= %s", (after, upto))}
        for event_id, room in conn.execute(
                "SELECT event_id, room FROM realtime_eventroom WHERE event_id > %s AND event_id <= %s",
                (after, upto)):
            events[event_id][2].add(room)
    return events


class Producer:
    """Bookings, slots and messages through REST, alternating between the servers."""

    def __init__(self, party: Party, urls: list[str], conversation: int) -> None:
        self.party, self.urls, self.conversation = party, urls, conversation
        self.stop = threading.Event()
        self.calls = Counter()
        self.failures: list = []
        self.slots: list[int] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            url = self.urls[n % len(self.urls)]
            try:
                self.step(n, url)
            except AssertionError as exc:  # a REST call failed: the test fails at the end
                self.failures.append(repr(exc)[:300])
            n += 1
            time.sleep(0.05)

    def step(self, n: int, url: str) -> None:
        api = self.party.api
        kind = n % 4
        if kind == 0 or not self.slots:
            doctor = ("martin", "bernard")[n % 2]
            debut, fin = fresh_slot()
            status, slot = api(doctor, "POST", "creneaux/", {"debut": debut, "fin": fin}, url=url)
            assert status == 201, slot
            self.slots.append(slot["id"])
            self.calls["slot"] += 1
        elif kind == 1:
            patient = ("alice", "bob", "chloe")[n % 3]
            status, rdv = api(patient, "POST", "rendezvous/", {"creneau": self.slots.pop(), "motif": "Panne"},
                              url=url)
            assert status == 201, rdv
            self.calls["booking"] += 1
        else:
            author = ("alice", "martin")[n % 2]
            status, msg = api(author, "POST", f"conversations/{self.conversation}/messages/",
                              {"contenu": f"message {n}"}, url=url)
            assert status == 201, msg
            self.calls["message"] += 1


async def test_sockets_get_every_event_exactly_once_across_a_redis_outage(outage_stack, private_redis):
    urls = [s.url for s in outage_stack.servers]
    party = Party(urls[0])
    conversation = party.conversation("alice", "martin")
    martin = party.id("martin")
    with psycopg.connect(outage_stack.env["DATABASE_URL"]) as conn:
        before_sockets = conn.execute("SELECT coalesce(max(id), 0) FROM realtime_event").fetchone()[0]
    joined: dict[str, set[str]] = {}
    for i, url in enumerate(urls):
        for who in USERS:
            key = f"{who}@{i}"
            (client,) = await party.connect(who, url=url, key=key)
            joined[key] = set()
            if who in ("alice", "martin"):
                room = f"conversation:{conversation}"
                assert (await client.call("join-room", room))["type"] == "success"
                joined[key].add(room)
            if who in ("bob", "secretariat"):
                room = f"creneaux:{martin}"
                assert (await client.call("join-room", room))["type"] == "success"
                joined[key].add(room)
    clients = party.clients
    try:
        # Everything before this broadcast is out of the comparison.
        await party.barrier(url=urls[1])
        start = max(p["eventId"] for c in clients.values() for _, p in c.events if isinstance(p, dict))

        producer = Producer(party, urls, conversation)
        thread = threading.Thread(target=producer.run, daemon=True)
        thread.start()
        await asyncio.sleep(2)
        private_redis.stop()  # Redis down, traffic goes on
        stopped = time.monotonic()
        await asyncio.sleep(OUTAGE_SECONDS)
        private_redis.start()  # empty: group memberships and queued messages are gone
        restarted = time.monotonic()
        await asyncio.sleep(3)
        cut = private_redis.cut_connections()  # then every connection cut, twice
        await asyncio.sleep(1)
        cut += private_redis.cut_connections()
        await asyncio.sleep(2)
        producer.stop.set()
        await asyncio.to_thread(thread.join, 30)
        assert not producer.failures, producer.failures[:5]

        # After the last produced event: a broadcast from each server, then every socket
        # must hold exactly the events addressed to it in between.
        await party.barrier(url=urls[0], timeout=60)
        await party.barrier(url=urls[1], timeout=60)
        end = max(p["eventId"] for c in clients.values() for _, p in c.events if isinstance(p, dict))
        log = event_log(outage_stack.env["DATABASE_URL"], start, end)

        expected_total = received_total = lost = duplicated = 0
        problems = {}
        for key, client in clients.items():
            rooms = rooms_of(party.me[key.split("@")[0]]) | joined[key]
            expected = {i for i, (_, everyone, to) in log.items() if everyone or to & rooms}
            got = Counter(p["eventId"] for _, p in client.events
                          if isinstance(p, dict) and start < p.get("eventId", 0) <= end)
            missing = expected - set(got)
            doubled = {i: n for i, n in got.items() if n > 1}
            extra = set(got) - expected
            expected_total += len(expected)
            received_total += sum(got.values())
            lost += len(missing)
            duplicated += sum(n - 1 for n in doubled.values())
            if missing or doubled or extra:
                problems[key] = {"missing": sorted(missing)[:20], "doubled": doubled, "extra": sorted(extra)[:20]}
            assert client.sio.connected and not client.disconnects, (key, client.disconnects)
            # ...and nothing from before it connected (a catch-up is not a replay)
            stale = [p["eventId"] for _, p in client.events if isinstance(p, dict) and p["eventId"] <= before_sockets]
            assert not stale, (key, stale[:10])

        logs = "".join(s.log.read_text(errors="replace") for s in outage_stack.servers)
        caught_up = sum(int(line.split("(")[1].split()[0])
                        for line in logs.splitlines() if "bus catch-up: delivered" in line)
        print(f"\n[outage] Redis down {restarted - stopped:.1f} s then {cut} connections cut; "
              f"{len(log)} events produced ({dict(producer.calls)} REST calls on 2 servers); "
              f"{expected_total} deliveries expected to {len(clients)} sockets, {received_total} received, "
              f"{lost} lost, {duplicated} duplicated; {caught_up} socket deliveries by catch-up from the event log")
        assert not problems, problems
        assert lost == 0 and duplicated == 0
        assert caught_up > 0  # the bus did lose events: the catch-up brought them
        # No traceback from this project's code (channels_redis logs its own background
        # task's ConnectionError while Redis is down: "Task exception was never retrieved").
        assert "/realtime/" not in "".join(line for line in logs.splitlines(keepends=True)
                                           if line.startswith('  File "')), logs[-3000:]
        assert "could not hand" not in logs and "Handler error in pubsub" not in logs
    finally:
        await party.close()



@pytest.fixture
def small_window_stack(tmp_path, private_redis, requires_postgres, requires_redis):
    stack = start_stack(tmp_path, servers=2, postgres=True, redis=True,
                        extra_env={"REDIS_URL": private_redis.url, "REPLAY_MAX_EVENTS": "40"})
    yield stack
    stack.close()


async def test_a_gap_over_the_replay_bound_makes_official_clients_reconnect_and_replay(
        small_window_stack, private_redis, node_bin):
    """More events in the catch-up window than REPLAY_MAX_EVENTS (40 here): the server
    closes its transports instead, and socket.io-client reconnects by itself, sending its
    lastEventId (as the web front does) and replaying what it missed."""
    urls = [s.url for s in small_window_stack.servers]
    party = Party(urls[0])
    me = {who: (party.token(who), party.me[who]) for who in ("alice", "bob")}
    alice = NodeClient(node_bin, {"url": urls[1], "token": me["alice"][0], "replay": True,
                                  "transports": ["websocket"], "timeoutMs": 120_000}, "alice")
    try:
        alice.wait_for(lambda ln: ln.get("kind") == "connect", "connect")
        first = party.publish("martin")  # seen live: the client has a lastEventId
        start = alice.wait_event("creneau:available", lambda p: p["data"]["id"] == first["id"])["eventId"]
        private_redis.stop()
        # On server 0 only: 25 slots (to every patient, alice included), then 15 bookings of
        # them by bob (45 events alice is not addressed): 70 events > 40 in the window, 25
        # for alice (<= 40: one replay brings them all).
        slots = [party.publish("martin") for _ in range(25)]
        for slot in slots[:15]:
            party.book("bob", slot["id"])
        await asyncio.sleep(1)
        private_redis.start()
        alice.wait_for(lambda ln: ln.get("kind") == "disconnect", "disconnect", timeout=30)
        alice.wait_for(lambda ln: len(alice.kinds("connect")) >= 2, "reconnect", timeout=30)
        # After the gap: one more slot, live.
        last = party.publish("martin")
        alice.wait_event("creneau:available", lambda p: p["data"]["id"] == last["id"], timeout=30)
        with psycopg.connect(small_window_stack.env["DATABASE_URL"]) as conn:
            end = conn.execute("SELECT max(id) FROM realtime_event").fetchone()[0]
        log = event_log(small_window_stack.env["DATABASE_URL"], start, end)
        rooms = rooms_of(me["alice"][1])
        expected = {i for i, (_, everyone, to) in log.items() if everyone or to & rooms}
        got = Counter(ln["payload"]["eventId"] for ln in alice.kinds("event")
                      if start < ln["payload"]["eventId"] <= end)
        reasons = [ln["reason"] for ln in alice.kinds("disconnect")]
        print(f"\n[outage, gap over the bound] {len(log)} events in the window, {len(expected)} for alice; "
              f"disconnects {reasons}, {len(alice.kinds('connect')) - 1} reconnections; "
              f"received {sum(got.values())}, lost {len(expected - set(got))}, "
              f"duplicated {sum(n - 1 for n in got.values() if n > 1)}")
        assert set(reasons) == {"transport close"}, reasons  # not "io server disconnect"
        assert set(got) == expected and max(got.values()) == 1, (sorted(expected - set(got)), got)
        logs = "".join(s.log.read_text(errors="replace") for s in small_window_stack.servers)
        assert "closing every transport so that clients replay" in logs
    finally:
        alice.close()
        await party.close()
