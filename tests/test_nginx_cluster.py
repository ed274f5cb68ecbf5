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
import signal
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
            asyncio.ensure_future(self._reconnect_if_final())

        self.url: str | None = None
        self.closing = False
        self.manual_reconnects = 0

    async def _reconnect_if_final(self) -> None:
        """python-engineio's client takes the server's engine.io CLOSE packet (a graceful
        stop's "reconnect elsewhere") as final, where socket.io-client reconnects: do what
        an application using it does, reconnect. Its own reconnection, when it runs, is
        left alone (its task is set by the time this runs)."""
        await asyncio.sleep(0.1)
        if self.closing or self.sio.connected or self.sio._reconnect_task is not None:
            return
        self.manual_reconnects += 1
        while not self.closing and not self.sio.connected:
            try:
                await self.connect(self.url)
            except socketio.exceptions.ConnectionError:
                await asyncio.sleep(0.3)

    async def auth(self) -> dict:
        return {"token": self.token} if self.last is None else {"token": self.token, "lastEventId": self.last}

    async def connect(self, url: str) -> Replaying:
        self.url = url
        await self.sio.connect(url, auth=self.auth, transports=self.transports, socketio_path="socket.io",
                               wait_timeout=10)
        return self

    def ids(self) -> list[int]:
        return [p["eventId"] for _, p in self.events if isinstance(p, dict) and isinstance(p.get("eventId"), int)]

    def has(self, message: str) -> bool:
        return any(e == "notification:general" and p.get("message") == message for e, p in self.events)

    async def close(self) -> None:
        self.closing = True
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


async def through_nginx(topology: Topology, node_bin: str, disrupt) -> dict:
    """Clients connected through nginx, traffic through nginx, ``disrupt(topology, holder)``
    meanwhile (``holder``: the daphne every client is on); then every client must hold
    exactly the events addressed to it between two barriers, by eventId. Returns figures."""
    url = topology.url
    party = Party(url)  # logs in through nginx
    node: dict[str, NodeClient] = {}
    py: dict[str, Replaying] = {}
    try:
        for who, transports in NODE.items():
            node[who] = NodeClient(node_bin, {"url": url, "token": party.token(who), "replay": True,
                                              "transports": transports, "timeoutMs": 280_000}, who)
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
        # Every socket is on the holder: one client address, one consistent-hash choice.
        polled = set(topology.nginx.upstreams_seen("/socket.io/"))
        assert polled == {f"127.0.0.1:{holder.port}"}, polled

        traffic = Traffic(party, url)
        thread = threading.Thread(target=traffic.run, daemon=True)
        thread.start()
        await asyncio.sleep(2)
        figures = await disrupt(topology, holder)
        await asyncio.sleep(3)
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

        # Each client lost its process, and came back (through nginx, to another one).
        reasons = Counter()
        for who, client in node.items():
            lost_at = [ln["reason"] for ln in client.kinds("disconnect")]
            reasons.update(lost_at)
            assert lost_at and len(client.kinds("connect")) == len(lost_at) + 1, (who, client.report())
        for who, client in py.items():
            assert client.disconnects and client.connects == len(client.disconnects) + 1, (who, client.disconnects)
            assert client.sio.connected, who
        after = set(topology.nginx.upstreams_seen("/socket.io/")) - polled - {"-"}
        assert after, "no Socket.IO request reached another daphne"
        figures.update(events=len(log), expected=expected_total, lost=lost, duplicated=duplicated,
                       statuses=dict(traffic.statuses), node_disconnects=dict(reasons))
        print(f"\n[nginx] {len(node)} Node + {len(py)} python clients through nginx: {figures}")
        assert not problems, problems
        assert lost == 0 and duplicated == 0
        return figures
    finally:
        for client in node.values():
            client.close()
        await asyncio.gather(*(c.close() for c in py.values()), return_exceptions=True)
        print("\n\n".join(c.report() for c in node.values()))


async def test_clients_through_nginx_survive_a_killed_daphne_with_replay(topology, node_bin):
    """A crash (SIGKILL) of the daphne holding every socket, under traffic."""

    async def kill(topo: Topology, holder: Server) -> dict:
        holder.proc.kill()
        await asyncio.to_thread(holder.proc.wait, 10)
        return {"killed": holder.port}

    await through_nginx(topology, node_bin, kill)


SHUTDOWN_TIMEOUT = 6.0


@pytest.fixture
def rolling_topology(tmp_path, nginx_bin, requires_postgres, requires_redis):
    topo = Topology(tmp_path, extra_env={"SHUTDOWN_TIMEOUT_SECONDS": str(SHUTDOWN_TIMEOUT)})
    yield topo
    topo.close()


async def test_rolling_restart_behind_nginx_loses_nothing(rolling_topology, node_bin):
    """Each daphne in turn gets SIGTERM (a deploy), exits within SHUTDOWN_TIMEOUT_SECONDS
    and is started again, under traffic: 0 lost, 0 duplicated, no request cut (no 502)."""

    async def rolling(topo: Topology, holder: Server) -> dict:
        exits = []
        for server in sorted(topo.stack.servers, key=lambda s: s is not holder):  # the holder first
            sent = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(server.proc.wait, SHUTDOWN_TIMEOUT + 10)
            exits.append(round(time.monotonic() - sent, 2))
            assert code == 0, (code, server.log.read_text(errors="replace")[-3000:])
            await asyncio.to_thread(server.start)
            await asyncio.sleep(6)  # past nginx's fail_timeout (5 s): it sends requests there again
        logs = topo.logs()
        assert logs.count("graceful stop: stopped accepting") == 2, logs[-3000:]
        assert logs.count("graceful stop: drained in") == 2, logs[-3000:]
        return {"exit_seconds": exits}

    figures = await through_nginx(rolling_topology, node_bin, rolling)
    assert all(t <= SHUTDOWN_TIMEOUT for t in figures["exit_seconds"]), figures
    assert set(figures["statuses"]) == {201}, figures  # every request finished, none cut


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
