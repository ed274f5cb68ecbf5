"""The production topology through a real nginx: deploy/nginx/medical-booking.conf in front
of two daphne processes on PostgreSQL + Redis, as ``make cluster`` runs it.

Official socket.io-client v4 (Node, websocket-only and polling-only) and python-socketio
clients connect through nginx; bookings, slots and broadcasts flow through nginx too; the
daphne holding the clients is stopped during that traffic; every client reconnects through
nginx to the other one with its lastEventId and must end with exactly the events addressed
to it, by eventId: none lost, none twice.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import urllib.request
import uuid
from collections import Counter

import psycopg
import pytest
import socketio

from devtools.cluster import Nginx, nginx_binary
from devtools.net import free_port, http

from .live import Server, manage, start_stack
from .rt import Party, fresh_slot
from .test_bus_outage import event_log, rooms_of
from .test_node_client import NodeClient
from .test_node_client import node_bin as node_bin  # the fixture

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(300)]

REQUIRE = os.environ.get("REQUIRE_SERVICES") == "1"
WAIT = 60.0


@pytest.fixture
def nginx_bin() -> str:
    binary = nginx_binary()
    if binary is None:
        if REQUIRE:
            pytest.fail("REQUIRE_SERVICES=1 but nginx is not installed (apt-get install -y nginx)")
        pytest.skip("nginx is not installed")
    return binary


class Topology:
    """A stack of daphne processes (--proxy-headers, as the systemd unit runs them) behind nginx."""

    def __init__(self, tmp, servers: int = 2, extra_env: dict | None = None) -> None:
        static_root = tmp / "staticfiles"
        self.stack = start_stack(tmp, servers=0, postgres=True, redis=True,
                                 extra_env={"STATIC_ROOT": str(static_root), **(extra_env or {})})
        self.nginx: Nginx | None = None
        try:
            manage(self.stack.env, "collectstatic", "--noinput", "-v", "0")
            ports = [free_port() for _ in range(servers)]
            nginx_port = free_port()
            # Browser origins: nginx's (Server adds its own).
            self.stack.env["CORS_ALLOWED_ORIGINS"] = f"http://127.0.0.1:{nginx_port}"
            for i, port in enumerate(ports):
                self.stack.servers.append(Server(env=self.stack.env, port=port, log=tmp / f"daphne-{i}.log",
                                                 args=["--proxy-headers"]).start())
            self.nginx = Nginx(port=nginx_port, upstreams=ports, static_root=static_root,
                               prefix=tmp / "nginx").start()
        except Exception:
            self.close()
            raise

    @property
    def url(self) -> str:
        return self.nginx.url

    def holder(self) -> Server:
        """The daphne nginx sends this machine's requests to (consistent hash of 127.0.0.1)."""
        status, _ = http("GET", f"{self.url}/api/schema/")
        assert status == 200
        last = self.nginx.upstreams_seen("/api/schema/")[-1]
        (server,) = [s for s in self.stack.servers if last == f"127.0.0.1:{s.port}"]
        return server

    def logs(self) -> str:
        return "".join(s.log.read_text(errors="replace") for s in self.stack.servers)

    def close(self) -> None:
        if self.nginx:
            self.nginx.stop()
        self.stack.close()


@pytest.fixture
def topology(tmp_path, nginx_bin, requires_postgres, requires_redis):
    topo = Topology(tmp_path)
    yield topo
    topo.close()


class Replaying:
    """A python-socketio client that reconnects by itself with its lastEventId, as the web
    front does (auth as a callable: evaluated on every connection)."""

    def __init__(self, name: str, token: str, transports: list[str]) -> None:
        self.name, self.token, self.transports = name, token, transports
        self.sio = socketio.AsyncClient(reconnection=True, reconnection_delay=0.2, reconnection_delay_max=1.0)
        self.events: list[tuple[str, object]] = []
        self.last: int | None = None
        self.connects = 0
        self.disconnects: list[object] = []

        @self.sio.on("*")
        async def _any(event, *args):
            payload = args[0] if len(args) == 1 else args
            self.events.append((event, payload))
            if isinstance(payload, dict) and isinstance(payload.get("eventId"), int):
                self.last = max(self.last or 0, payload["eventId"])

        @self.sio.event
        async def connect():
            self.connects += 1

        @self.sio.event
        async def disconnect(*args):
            self.disconnects.append(args[0] if args else None)

    async def auth(self) -> dict:
        return {"token": self.token} if self.last is None else {"token": self.token, "lastEventId": self.last}

    async def connect(self, url: str) -> Replaying:
        await self.sio.connect(url, auth=self.auth, transports=self.transports, socketio_path="socket.io",
                               wait_timeout=10)
        return self

    def ids(self) -> list[int]:
        return [p["eventId"] for _, p in self.events if isinstance(p, dict) and isinstance(p.get("eventId"), int)]

    def has(self, message: str) -> bool:
        return any(e == "notification:general" and p.get("message") == message for e, p in self.events)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.sio.disconnect(), 2.0)
        except TimeoutError:  # a pending long-poll GET (see tests/rt.py Recorder.close)
            pass


class Traffic:
    """Slots, bookings and broadcasts through nginx from a thread, until stopped.

    A request cut by a stopping daphne gets nginx's 502: counted, not a failure (whether
    it committed is read from the event log, like every other event)."""

    def __init__(self, party: Party, url: str) -> None:
        self.party, self.url = party, url
        self.stop = threading.Event()
        self.statuses: Counter = Counter()
        self.failures: list[str] = []
        self.slots: list[int] = []

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            try:
                self.step(n)
            except Exception as exc:  # noqa: BLE001 - reported by the test
                self.failures.append(repr(exc)[:300])
            n += 1
            time.sleep(0.03)

    def call(self, who: str, method: str, path: str, body: dict, ok: int = 201) -> dict | None:
        status, out = self.party.api(who, method, path, body, url=self.url)
        self.statuses[status] += 1
        if status == ok:
            return out
        if status not in (502, 503, 504):
            self.failures.append(f"{method} {path} -> {status} {str(out)[:200]}")
        return None

    def step(self, n: int) -> None:
        kind = n % 3
        if kind == 0 or not self.slots:
            debut, fin = fresh_slot()
            slot = self.call(("martin", "bernard")[n % 2], "POST", "creneaux/", {"debut": debut, "fin": fin})
            if slot:
                self.slots.append(slot["id"])
        elif kind == 1:
            self.call(("alice", "bob", "chloe")[n % 3], "POST", "rendezvous/",
                      {"creneau": self.slots.pop(), "motif": "Trafic"})
        else:
            self.call("admin", "POST", "notifications/broadcast/", {"message": f"trafic {n}", "role": "PATIENT"})


NODE = {"alice": ["websocket"], "bob": ["polling"], "martin": ["websocket"], "secretariat": ["polling"]}
PYTHON = {"chloe": ["websocket"], "bernard": ["polling"], "admin": ["websocket"]}


async def test_clients_through_nginx_survive_a_stopped_daphne_with_replay(topology, node_bin):
    url = topology.url
    party = Party(url)  # logs in through nginx
    node: dict[str, NodeClient] = {}
    py: dict[str, Replaying] = {}
    try:
        for who, transports in NODE.items():
            node[who] = NodeClient(node_bin, {"url": url, "token": party.token(who), "replay": True,
                                              "transports": transports, "timeoutMs": 240_000}, who)
        for who, transports in PYTHON.items():
            py[who] = await Replaying(who, party.token(who), transports).connect(url)
        for client in node.values():
            await asyncio.to_thread(client.wait_for, lambda ln: ln.get("kind") == "connect", "connect")
            assert [c["transport"] for c in client.kinds("connect")] == [client.scenario["transports"][0]]

        async def barrier() -> int:
            marker = f"barrier-{uuid.uuid4().hex}"
            status, _ = await asyncio.to_thread(party.api, "admin", "POST", "notifications/broadcast/",
                                                {"message": marker}, url)
            assert status == 201
            for client in node.values():
                await asyncio.to_thread(client.wait_event, "notification:general",
                                        lambda p: p["message"] == marker, "", WAIT)
            deadline = time.monotonic() + WAIT
            while not all(c.has(marker) for c in py.values()):
                assert time.monotonic() < deadline, {k: c.has(marker) for k, c in py.items()}
                await asyncio.sleep(0.05)
            (p,) = [p for e, p in next(iter(py.values())).events
                    if e == "notification:general" and p["message"] == marker]
            return p["eventId"]

        start = await barrier()
        holder = topology.holder()
        other = next(s for s in topology.stack.servers if s is not holder)
        # Every socket is on the holder: one client address, one consistent-hash choice.
        polled = set(topology.nginx.upstreams_seen("/socket.io/"))
        assert polled == {f"127.0.0.1:{holder.port}"}, polled

        traffic = Traffic(party, url)
        thread = threading.Thread(target=traffic.run, daemon=True)
        thread.start()
        await asyncio.sleep(2)
        stopped_at = time.monotonic()
        await asyncio.to_thread(holder.stop)
        stop_seconds = time.monotonic() - stopped_at
        await asyncio.sleep(5)
        traffic.stop.set()
        await asyncio.to_thread(thread.join, 30)
        assert not traffic.failures, traffic.failures[:5]
        assert traffic.statuses[201] > 20, traffic.statuses

        end = await barrier()
        log = event_log(topology.stack.env["DATABASE_URL"], start, end)
        received = {f"node:{k}": [ln["payload"]["eventId"] for ln in c.kinds("event")] for k, c in node.items()}
        received |= {f"python:{k}": c.ids() for k, c in py.items()}
        expected_total = lost = duplicated = 0
        problems = {}
        for key, ids in received.items():
            who = key.split(":")[1]
            rooms = rooms_of(party.me[who])
            expected = {i for i, (_, everyone, to) in log.items() if everyone or to & rooms}
            got = Counter(i for i in ids if start < i <= end)
            missing, extra = expected - set(got), set(got) - expected
            doubled = {i: n for i, n in got.items() if n > 1}
            expected_total += len(expected)
            lost += len(missing)
            duplicated += sum(n - 1 for n in doubled.values())
            if missing or extra or doubled:
                problems[key] = {"missing": sorted(missing)[:20], "extra": sorted(extra)[:20], "doubled": doubled}

        # Each client lost its process, and came back (through nginx, to the other one).
        for who, client in node.items():
            reasons = [ln["reason"] for ln in client.kinds("disconnect")]
            assert reasons and len(client.kinds("connect")) == len(reasons) + 1, (who, client.report())
        for who, client in py.items():
            assert client.disconnects and client.connects == len(client.disconnects) + 1, (who, client.disconnects)
            assert client.sio.connected, who
        after = set(topology.nginx.upstreams_seen("/socket.io/")[len(polled):]) - {"-"}
        assert f"127.0.0.1:{other.port}" in after, after

        print(f"\n[nginx] {len(node)} Node + {len(py)} python clients through nginx; traffic {dict(traffic.statuses)}; "
              f"holder stopped in {stop_seconds:.1f} s; {len(log)} events, {expected_total} deliveries expected, "
              f"{lost} lost, {duplicated} duplicated; Node disconnect reasons "
              f"{sorted({ln['reason'] for c in node.values() for ln in c.kinds('disconnect')})}")
        assert not problems, problems
        assert lost == 0 and duplicated == 0
    finally:
        for client in node.values():
            client.close()
        await asyncio.gather(*(c.close() for c in py.values()), return_exceptions=True)
        print("\n\n".join(c.report() for c in node.values()))


def _journal_ip(database_url: str, request_id: str) -> str | None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT DISTINCT host(ip) FROM audit_journalacces WHERE request_id = %s",
                            (request_id,)).fetchall()
    assert len(rows) == 1, rows
    return rows[0][0]


def test_nginx_serves_statics_and_passes_the_client_address(topology):
    url = topology.url
    # Statics from nginx itself (collectstatic), with Django's headers for them.
    with urllib.request.urlopen(f"{url}/static/app.css", timeout=10) as r:
        assert r.status == 200 and r.headers["Server"].startswith("nginx")
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert "css" in r.headers["Content-Type"]
    # The API through nginx: the client address daphne sees is nginx's $remote_addr,
    # whatever X-Forwarded-For the client wrote (nginx overwrites it).
    party = Party(url)
    party.book("alice", party.publish("martin")["id"])  # a patient's data to read, hence logged
    token = party.token("martin")
    seen = {}
    for name, base, headers in (
        ("nginx", url, {}),
        ("nginx, forged", url, {"X-Forwarded-For": "203.0.113.9"}),
        # Directly on daphne (--proxy-headers) the header is believed: why it binds to
        # 127.0.0.1 only, behind nginx.
        ("direct, forged", topology.stack.servers[0].url, {"X-Forwarded-For": "203.0.113.9"}),
    ):
        req = urllib.request.Request(f"{base}/api/rendezvous/", headers={"Authorization": f"Bearer {token}",
                                                                          **headers})
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
            seen[name] = _journal_ip(topology.stack.env["DATABASE_URL"], r.headers["X-Request-ID"])
    assert seen == {"nginx": "127.0.0.1", "nginx, forged": "127.0.0.1", "direct, forged": "203.0.113.9"}, seen


def test_the_deploy_site_passes_nginx_t(nginx_bin, tmp_path):
    """deploy/nginx/medical-booking.conf as an operator installs it: ``nginx -t`` accepts it."""
    nginx = Nginx(port=free_port(), upstreams=[free_port(), free_port()], static_root=tmp_path,
                  prefix=tmp_path / "nginx")
    conf = nginx.write_config()
    result = subprocess.run([nginx_bin, "-t", "-p", str(nginx.prefix), "-c", str(conf)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
