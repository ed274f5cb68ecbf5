"""The seed's contract, held for the official JavaScript client.

Each test runs ``socket.io-client`` v4 under Node (``tests/node/client.mjs``, connecting
exactly like the seed: ``io(URL, {auth: {token}})``) as subprocesses against the live
daphne server, acts through the REST API from Python, and asserts on the JSON lines the
Node clients printed: what reached each socket, and what did not.

Absence is asserted after a barrier, never after a bare sleep: the server emits in commit
order on one queue and each socket receives in order, so once a socket has seen an event
committed *after* the action under test, anything that action sent it has arrived too.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .live import http, login

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

NODE_DIR = Path(__file__).resolve().parent / "node"
CLIENT = NODE_DIR / "client.mjs"
REQUIRE = os.environ.get("REQUIRE_SERVICES") == "1"

TYPES = {"success", "info", "warning", "error"}
TOKEN_REQUIRED = "Token d'authentification requis"
TOKEN_INVALID = "Token invalide"
SLOT_KEYS = {"id", "medecin", "debut", "fin", "timezone", "actif", "disponible"}
TRANSPORTS = [pytest.param(["websocket"], id="websocket"), pytest.param(["polling"], id="polling")]
WAIT = 15.0  # seconds: generous for a loaded CI machine, never reached when things work


# --- Node and its node_modules --------------------------------------------------------

def _unavailable(what: str) -> None:
    if REQUIRE:
        pytest.fail(f"REQUIRE_SERVICES=1 but {what}")
    pytest.skip(what)


@pytest.fixture(scope="session")
def node_bin() -> str:
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < 18:
        _unavailable(f"socket.io-client v4 needs Node >= 18, found {version}")
    if not (NODE_DIR / "node_modules" / "socket.io-client" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("tests/node/node_modules is missing and npm is not installed")
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
            capture_output=True, text=True, timeout=600,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci failed in tests/node:\n{result.stdout}\n{result.stderr}")
    return node


# --- one Node client as a subprocess ---------------------------------------------------

class NodeClient:
    """A running ``client.mjs``: its output lines, parsed, and a stdin to command it."""

    def __init__(self, node: str, scenario: dict, name: str) -> None:
        self.name = name
        self.scenario = scenario
        self.lines: list[dict] = []
        self.raw: list[str] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        self._acks = itertools.count(1)
        self.proc = subprocess.Popen(
            [node, str(CLIENT)], cwd=NODE_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1,
        )
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True, name=f"{name}-stdout"),
            threading.Thread(target=self._read_stderr, daemon=True, name=f"{name}-stderr"),
        ]
        for t in self._threads:
            t.start()
        # The scenario on stdin, not argv: a token never shows in the process list.
        self.send(scenario)

    # reading

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self._cond:
                self.raw.append(line)
                try:
                    parsed = json.loads(line)
                except ValueError:
                    parsed = {"kind": "unparsed", "line": line}
                self.lines.append(parsed)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            with self._cond:
                self.stderr.append(line.rstrip("\n"))

    def report(self) -> str:
        with self._cond:
            scenario = {k: ("<token>" if k == "token" and v else v) for k, v in self.scenario.items()}
            return (
                f"--- node client {self.name!r} (exit code {self.proc.poll()}) scenario={scenario}\n"
                + "\n".join(self.raw)
                + ("\n--- stderr:\n" + "\n".join(self.stderr) if self.stderr else "")
            )

    def wait_for(self, predicate: Callable[[dict], bool], what: str, timeout: float = WAIT) -> dict:
        """The first output line matching ``predicate``; fails with the whole output if none."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._threads[0].is_alive()):
                    break
                self._cond.wait(min(remaining, 0.5))
        pytest.fail(f"{self.name}: no {what} within {timeout:.0f}s\n{self.report()}")

    def events(self, name: str | None = None) -> list[dict]:
        with self._cond:
            return [ln for ln in self.lines if ln.get("kind") == "event" and name in (None, ln["event"])]

    def payloads(self, name: str, pred: Callable[[dict], bool] = lambda p: True) -> list[dict]:
        return [e["payload"] for e in self.events(name) if pred(e["payload"])]

    def wait_event(self, name: str, pred: Callable[[dict], bool] = lambda p: True,
                   what: str = "", timeout: float = WAIT) -> dict:
        line = self.wait_for(
            lambda ln: ln.get("kind") == "event" and ln.get("event") == name and pred(ln.get("payload")),
            f"{name!r} event {what}".strip(), timeout,
        )
        return line["payload"]

    def kinds(self, kind: str) -> list[dict]:
        with self._cond:
            return [ln for ln in self.lines if ln.get("kind") == kind]

    # commanding

    def send(self, command: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            pytest.fail(f"{self.name}: cannot write to the node client ({exc})\n{self.report()}")

    def emit(self, event: str, *args, ack: bool = True) -> dict | None:
        """``socket.emit(event, ...args)``; with ``ack``, waits for and returns the ack."""
        cid = f"c{next(self._acks)}"
        self.send({"op": "emit", "event": event, "args": list(args), "ack": ack, "id": cid})
        if not ack:
            self.wait_for(lambda ln: ln.get("kind") == "emitted" and ln.get("id") == cid, f"emit {event}")
            return None
        line = self.wait_for(lambda ln: ln.get("kind") == "ack" and ln.get("id") == cid, f"ack for {event}")
        assert "error" not in line, f"{self.name}: no ack for {event}: {line['error']}\n{self.report()}"
        return line["response"]

    def assert_connected(self) -> None:
        cid = f"s{next(self._acks)}"
        self.send({"op": "state", "id": cid})
        state = self.wait_for(lambda ln: ln.get("kind") == "state" and ln.get("id") == cid, "state")
        assert state["connected"] is True, f"{self.name} got disconnected\n{self.report()}"
        assert not self.kinds("disconnect"), f"{self.name} saw a disconnect\n{self.report()}"

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "close"}) + "\n")
                self.proc.stdin.close()
            except (BrokenPipeError, ValueError, OSError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        for t in self._threads:
            t.join(2)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                stream.close()
            except (ValueError, OSError):
                pass


@pytest.fixture
def node_clients(node_bin, live):
    """A factory of Node clients against ``live``, all stopped at teardown.

    Their whole output is printed at teardown: pytest shows it for failing tests only.
    """
    started: list[NodeClient] = []

    def spawn(name: str, *, token: str | None = None, connect: bool = True, **scenario) -> NodeClient:
        scenario = {"url": live.url, "token": token, "timeoutMs": 120_000, **scenario}
        client = NodeClient(node_bin, scenario, name)
        started.append(client)
        if connect:
            client.wait_for(lambda ln: ln.get("kind") in ("connect", "connect_error", "exit"), "connect")
            assert client.kinds("connect"), f"{name} could not connect\n{client.report()}"
        return client

    yield spawn
    for client in started:
        client.close()
    print("\n\n".join(c.report() for c in started))


# --- REST helpers ------------------------------------------------------------------------

class Actor:
    def __init__(self, base: str, email: str) -> None:
        self.base = base
        self.email = email
        tokens = login(base, email)
        self.access, self.refresh = tokens["access"], tokens["refresh"]
        status, me = http("GET", f"{base}/api/me/", token=self.access)
        assert status == 200, me
        self.id = me["id"]
        self.role = me["role"]

    def call(self, method: str, path: str, body=None) -> tuple[int, object]:
        return http(method, f"{self.base}/api{path}", body, self.access)


_days = itertools.count()
# Far from the demo data's next two weeks and from what other test files publish.
_BASE = datetime.now(UTC).replace(hour=5, minute=15, second=0, microsecond=0) + timedelta(days=421)


def publish_slot(doctor: Actor) -> dict:
    """A fresh 15-minute slot; moves on when another test already holds that time."""
    day = next(_days)
    for attempt in range(40):
        debut = _BASE + timedelta(days=day, minutes=15 * attempt)
        status, body = doctor.call("POST", "/creneaux/", {
            "debut": debut.isoformat().replace("+00:00", "Z"),
            "fin": (debut + timedelta(minutes=15)).isoformat().replace("+00:00", "Z"),
        })
        if status == 201:
            return body
        assert status == 409, (status, body)
    pytest.fail(f"could not publish a slot for {doctor.email}")


def book(patient: Actor, slot: dict, motif: str = "Consultation") -> dict:
    status, body = patient.call("POST", "/rendezvous/", {"creneau": slot["id"], "motif": motif})
    assert status == 201, (status, body)
    return body


def open_conversation(user: Actor, other: Actor) -> dict:
    status, body = user.call("POST", "/conversations/", {"participant": other.id})
    assert status in (200, 201), (status, body)
    return body


def send_message(user: Actor, conversation_id: int, contenu: str) -> dict:
    status, body = user.call("POST", f"/conversations/{conversation_id}/messages/", {"contenu": contenu})
    assert status == 201, (status, body)
    return body


def slot_barrier(doctor: Actor, *patients: NodeClient) -> dict:
    """Publish a slot and wait until each patient socket saw it (role:PATIENT)."""
    slot = publish_slot(doctor)
    for client in patients:
        client.wait_event("creneau:available", lambda p: p["data"]["id"] == slot["id"], "(barrier)")
    return slot


def assert_envelope(payload: dict, *, type_: str | None = None, message: str | None = None) -> None:
    """The seed's ``{type, message, data}`` plus ``eventId`` and ``emittedAt``."""
    assert set(payload) == {"type", "message", "data", "eventId", "emittedAt"}, payload
    assert payload["type"] in TYPES, payload
    assert isinstance(payload["message"], str) and payload["message"], payload
    if type_ is not None:
        assert payload["type"] == type_, payload
    if message is not None:
        assert payload["message"] == message, payload
    assert isinstance(payload["eventId"], int) and payload["eventId"] > 0, payload
    emitted = datetime.fromisoformat(payload["emittedAt"])
    assert emitted.tzinfo is not None, payload
    assert abs((datetime.now(UTC) - emitted).total_seconds()) < 300, payload


def event_ids_increase(client: NodeClient) -> None:
    ids = [e["payload"]["eventId"] for e in client.events() if isinstance(e["payload"], dict)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), f"eventIds out of order: {ids}\n{client.report()}"


@pytest.fixture
def actors(live) -> Callable[[str], Actor]:
    cache: dict[str, Actor] = {}

    def get(email: str) -> Actor:
        if email not in cache:
            cache[email] = Actor(live.url, email)
        return cache[email]

    return get


# --- connection refusals -------------------------------------------------------------

@pytest.mark.parametrize("transports", TRANSPORTS)
@pytest.mark.parametrize(("auth", "expected"), [
    pytest.param(None, TOKEN_REQUIRED, id="no-auth"),
    pytest.param({}, TOKEN_REQUIRED, id="empty-auth"),
    pytest.param({"token": ""}, TOKEN_REQUIRED, id="empty-token"),
    pytest.param({"token": "garbage.not.a-jwt"}, TOKEN_INVALID, id="garbage-token"),
    pytest.param("refresh", TOKEN_INVALID, id="refresh-token"),
])
def test_connect_refused_with_the_seeds_messages(node_clients, actors, transports, auth, expected):
    scenario = {"transports": transports}
    if auth == "refresh":
        scenario["token"] = actors("alice@demo.fr").refresh
    elif auth is not None:
        scenario["auth"] = auth
    client = node_clients("refused", connect=False, **scenario)
    error = client.wait_for(lambda ln: ln.get("kind") in ("connect_error", "connect"), "connect_error")
    assert error["kind"] == "connect_error", client.report()
    # Exactly the strings the seed's client compares with ===.
    assert error["message"] == expected, client.report()
    # A refusal by the server is final: the client does not retry in a loop.
    assert error["active"] is False, client.report()
    assert not client.kinds("connect"), client.report()


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_authorization_header_connects_a_non_browser_client(node_clients, actors, transports):
    alice = actors("alice@demo.fr")
    client = node_clients("alice-header", transports=transports,
                          extraHeaders={"Authorization": f"Bearer {alice.access}"})
    client.assert_connected()
    refused = node_clients("bad-header", connect=False, transports=transports,
                           extraHeaders={"Authorization": "Bearer garbage"})
    error = refused.wait_for(lambda ln: ln.get("kind") in ("connect_error", "connect"), "connect_error")
    assert error["kind"] == "connect_error" and error["message"] == TOKEN_INVALID, refused.report()


def test_a_valid_token_connects_over_each_transport(node_clients, actors, live):
    alice = actors("alice@demo.fr")
    ws = node_clients("alice-ws", token=alice.access, transports=["websocket"])
    polling = node_clients("alice-polling", token=alice.access, transports=["polling"])
    default = node_clients("alice-default", token=alice.access)
    assert ws.kinds("connect")[0]["transport"] == "websocket"
    assert polling.kinds("connect")[0]["transport"] == "polling"
    assert default.kinds("connect")[0]["transport"] in ("polling", "websocket")
    for client in (ws, polling, default):
        client.assert_connected()
    # A handshake token is never logged.
    for server in live.servers:
        assert alice.access not in server.log.read_text(errors="replace")


# --- booking events: who gets what ---------------------------------------------------

@pytest.mark.parametrize("transports", TRANSPORTS)
def test_booking_events_reach_exactly_their_rooms(node_clients, actors, transports):
    alice, bob = actors("alice@demo.fr"), actors("bob@demo.fr")
    martin, bernard = actors("dr.martin@demo.fr"), actors("dr.bernard@demo.fr")
    c_alice = node_clients("alice", token=alice.access, transports=transports)
    c_bob = node_clients("bob", token=bob.access, transports=transports)
    c_martin = node_clients("dr.martin", token=martin.access, transports=transports)
    c_bernard = node_clients("dr.bernard", token=bernard.access, transports=transports)
    for c in (c_alice, c_bob, c_martin, c_bernard):
        assert c.kinds("connect")[0]["transport"] == transports[0]

    # A published slot reaches every patient, as slot data only.
    slot = publish_slot(martin)
    for c in (c_alice, c_bob):
        available = c.wait_event("creneau:available", lambda p: p["data"]["id"] == slot["id"])
        assert_envelope(available, type_="info")
        assert available["data"] == slot

    # Both patients follow this doctor's slots, as a booking grid does.
    for c in (c_alice, c_bob):
        assert c.emit("join-room", f"creneaux:{slot['medecin']}")["type"] == "success"

    # Alice books through REST.
    rdv = book(alice, slot, "Douleur au genou")

    created = c_alice.wait_event("rendezvous:created", lambda p: p["data"]["id"] == rdv["id"])
    assert_envelope(created, type_="success", message="Rendez-vous créé avec succès")
    assert created["data"] == rdv  # the same JSON the REST POST returned

    new = c_martin.wait_event("rendezvous:new", lambda p: p["data"]["id"] == rdv["id"])
    assert_envelope(new)
    assert new["data"] == rdv

    # Barrier: the booking's slot event (committed with it, emitted after the personal
    # ones) has reached both followers, so anything else it sent has too.
    for c in (c_alice, c_bob):
        c.wait_event("creneau:unavailable", lambda p: p["data"]["id"] == slot["id"])
    slot_barrier(bernard, c_alice, c_bob)

    assert len(c_alice.payloads("rendezvous:created", lambda p: p["data"]["id"] == rdv["id"])) == 1
    assert len(c_martin.payloads("rendezvous:new", lambda p: p["data"]["id"] == rdv["id"])) == 1
    assert not c_alice.events("rendezvous:new"), c_alice.report()
    # Bob: neither of alice's events, only role-wide slot events carrying slot data.
    assert not [e for e in c_bob.events() if e["event"].startswith("rendezvous:")], c_bob.report()
    for e in c_bob.events():
        assert e["event"].startswith("creneau:"), c_bob.report()
        assert set(e["payload"]["data"]) == SLOT_KEYS, e
        assert "patient" not in json.dumps(e["payload"]), e
    # Another doctor learns nothing of this booking.
    assert not c_bernard.payloads("rendezvous:new", lambda p: p["data"]["id"] == rdv["id"]), c_bernard.report()
    assert not c_martin.events("rendezvous:created"), c_martin.report()

    # The doctor confirms: the patient hears it (the seed's rendezvous:confirmed).
    status, confirmed = martin.call("POST", f"/rendezvous/{rdv['id']}/confirm/")
    assert status == 200, confirmed
    done = c_alice.wait_event("rendezvous:confirmed", lambda p: p["data"]["id"] == rdv["id"])
    assert_envelope(done, type_="success")
    assert done["data"] == confirmed
    slot_barrier(bernard, c_alice, c_bob)
    assert not c_bob.events("rendezvous:confirmed"), c_bob.report()

    for c in (c_alice, c_bob, c_martin, c_bernard):
        event_ids_increase(c)
        c.assert_connected()


def test_a_booked_slot_is_reported_unavailable_in_events(node_clients, actors):
    """Regression: the booked slot was serialized from a stale ``reserve`` annotation, so
    the 201 body, rendezvous:created and creneau:unavailable all said disponible=true."""
    alice, bob, bernard = actors("alice@demo.fr"), actors("bob@demo.fr"), actors("dr.bernard@demo.fr")
    c_alice = node_clients("alice", token=alice.access, transports=["websocket"])
    c_bob = node_clients("bob", token=bob.access, transports=["websocket"])
    slot = publish_slot(bernard)
    assert c_bob.emit("join-room", f"creneaux:{slot['medecin']}")["type"] == "success"
    rdv = book(alice, slot)
    created = c_alice.wait_event("rendezvous:created", lambda p: p["data"]["id"] == rdv["id"])
    gone = c_bob.wait_event("creneau:unavailable", lambda p: p["data"]["id"] == slot["id"])
    status, fresh = bob.call("GET", f"/creneaux/{slot['id']}/")
    assert status == 200, fresh
    assert fresh["disponible"] is False  # the REST API of record
    assert gone["data"] == fresh, gone
    assert created["data"]["creneau"] == fresh, created
    assert rdv["creneau"]["disponible"] is False, rdv


def test_conflict_goes_to_the_losing_requester_only(node_clients, actors):
    alice, bob, chloe = actors("alice@demo.fr"), actors("bob@demo.fr"), actors("chloe@demo.fr")
    bernard = actors("dr.bernard@demo.fr")
    c_alice = node_clients("alice", token=alice.access, transports=["websocket"])
    c_bob = node_clients("bob", token=bob.access, transports=["websocket"])
    c_chloe = node_clients("chloe", token=chloe.access, transports=["polling"])
    c_doctor = node_clients("dr.bernard", token=bernard.access, transports=["websocket"])

    slot = publish_slot(bernard)
    book(alice, slot)
    status, body = bob.call("POST", "/rendezvous/", {"creneau": slot["id"], "motif": "trop tard"})
    assert status == 409, body

    conflict = c_bob.wait_event("creneau:conflict", lambda p: p["data"]["id"] == slot["id"])
    assert_envelope(conflict, type_="error", message="Ce créneau n'est plus disponible")
    assert set(conflict["data"]) == SLOT_KEYS
    assert conflict["data"]["disponible"] is False
    assert {k: v for k, v in conflict["data"].items() if k != "disponible"} == {
        k: v for k, v in slot.items() if k != "disponible"}

    slot_barrier(bernard, c_alice, c_bob, c_chloe)
    assert len(c_bob.events("creneau:conflict")) == 1, c_bob.report()
    for c in (c_alice, c_chloe, c_doctor):
        assert not c.events("creneau:conflict"), c.report()
    assert not c_bob.events("rendezvous:created"), c_bob.report()
    c_bob.assert_connected()


# --- moves (second stage) ------------------------------------------------------------

def move(actor: Actor, rdv: dict, slot: dict) -> dict:
    status, body = actor.call("POST", f"/rendezvous/{rdv['id']}/move/", {"creneau": slot["id"]})
    assert status == 200, (status, body)
    return body


def staff_barrier(doctor: Actor, *followers: NodeClient) -> dict:
    """Publish a slot of ``doctor`` and wait until each follower of ``creneaux:{doctor}``
    saw it: staff sockets are in no role-wide room a patient barrier would reach."""
    slot = publish_slot(doctor)
    for client in followers:
        client.wait_event("creneau:available", lambda p: p["data"]["id"] == slot["id"], "(staff barrier)")
    return slot


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_move_events_reach_exactly_their_rooms(node_clients, actors, transports):
    alice, bob = actors("alice@demo.fr"), actors("bob@demo.fr")
    martin, bernard = actors("dr.martin@demo.fr"), actors("dr.bernard@demo.fr")
    secretariat = actors("secretariat@demo.fr")
    old, new = publish_slot(martin), publish_slot(martin)
    rdv = book(alice, old, "Contrôle")

    c_alice = node_clients("alice", token=alice.access, transports=transports)
    c_bob = node_clients("bob", token=bob.access, transports=transports)
    c_martin = node_clients("dr.martin", token=martin.access, transports=transports)
    c_bernard = node_clients("dr.bernard", token=bernard.access, transports=transports)
    c_secretariat = node_clients("secretariat", token=secretariat.access, transports=transports)
    # Bob's booking grid follows dr.martin's slots; the staff follow dr.bernard's (barrier).
    assert c_bob.emit("join-room", f"creneaux:{martin.id}")["type"] == "success"
    for c in (c_martin, c_bernard, c_secretariat):
        assert c.emit("join-room", f"creneaux:{bernard.id}")["type"] == "success"

    moved = move(alice, rdv, new)
    assert moved["id"] == rdv["id"] and moved["creneau"]["id"] == new["id"]

    for c in (c_alice, c_martin, c_secretariat):
        got = c.wait_event("rendezvous:moved", lambda p: p["data"]["id"] == rdv["id"])
        assert_envelope(got, type_="info", message="Rendez-vous déplacé")
        assert {k: v for k, v in got["data"].items() if k != "ancien_creneau"} == {
            k: v for k, v in moved.items() if k != "ancien_creneau"}, got
        assert set(got["data"]["ancien_creneau"]) == SLOT_KEYS
        assert got["data"]["ancien_creneau"]["id"] == old["id"]
        assert got["data"]["ancien_creneau"]["debut"] == old["debut"]
        assert got["data"]["ancien_creneau"]["fin"] == old["fin"]

    # Bob (a patient following the agenda): the new slot taken, the old one freed, slot data only.
    taken = c_bob.wait_event("creneau:unavailable", lambda p: p["data"]["id"] == new["id"])
    freed = c_bob.wait_event("creneau:available", lambda p: p["data"]["id"] == old["id"])
    assert taken["data"]["disponible"] is False and freed["data"]["disponible"] is True
    assert freed["message"] == "Un créneau s'est libéré"
    # Alice is in role:PATIENT: she sees the old slot freed too (slot data only).
    c_alice.wait_event("creneau:available", lambda p: p["data"]["id"] == old["id"])

    slot_barrier(bernard, c_alice, c_bob)
    staff_barrier(bernard, c_martin, c_bernard, c_secretariat)
    for c in (c_alice, c_martin, c_secretariat):
        assert len(c.payloads("rendezvous:moved", lambda p: p["data"]["id"] == rdv["id"])) == 1, c.report()
    assert not [e for e in c_bob.events() if e["event"].startswith("rendezvous:")], c_bob.report()
    for e in c_bob.events():
        assert set(e["payload"]["data"]) == SLOT_KEYS, e
        assert "patient" not in json.dumps(e["payload"]), e
    assert not c_bernard.events("rendezvous:moved"), c_bernard.report()
    # Staff are in no role-wide slot room: the freed slot reaches them only if they follow it.
    for c in (c_martin, c_bernard, c_secretariat):
        assert not c.payloads("creneau:available", lambda p: p["data"]["id"] == old["id"]), c.report()
    for c in (c_alice, c_bob, c_martin, c_bernard, c_secretariat):
        event_ids_increase(c)
        c.assert_connected()


# --- rooms --------------------------------------------------------------------------

@pytest.fixture
def conversation(actors):
    """Alice has a booking with dr.martin and a conversation with him."""
    alice, martin = actors("alice@demo.fr"), actors("dr.martin@demo.fr")
    book(alice, publish_slot(martin))
    return open_conversation(alice, martin)


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_join_room_acks_and_message_new_once(node_clients, actors, conversation, transports):
    alice, bob, martin = actors("alice@demo.fr"), actors("bob@demo.fr"), actors("dr.martin@demo.fr")
    room = f"conversation:{conversation['id']}"
    c_martin = node_clients("dr.martin", token=martin.access, transports=transports)
    c_bob = node_clients("bob", token=bob.access, transports=transports)

    ack = c_martin.emit("join-room", room)
    assert ack["type"] == "success", ack
    assert isinstance(ack["message"], str) and ack["message"], ack
    assert ack["data"] == {"room": room}, ack
    # Joining twice is harmless (and still a success).
    assert c_martin.emit("join-room", room)["type"] == "success"

    refused = c_bob.emit("join-room", room)
    assert refused["type"] == "error", refused
    assert refused["message"] == "Accès refusé à cette room", refused
    assert isinstance(refused.get("code"), str) and refused["code"], refused
    c_bob.assert_connected()

    # dr.martin is in the conversation room and is a recipient (user room): once.
    first = send_message(alice, conversation["id"], "Bonjour docteur")
    second = send_message(alice, conversation["id"], "Je serai en avance")
    got = c_martin.wait_event("message:new", lambda p: p["data"]["id"] == second["id"])
    assert_envelope(got)
    assert got["data"] == second
    # The second message is behind the first on the same queue: both have fully arrived.
    news = c_martin.payloads("message:new")
    assert [p["data"]["id"] for p in news] == [first["id"], second["id"]], c_martin.report()
    assert news[0]["data"] == first

    # Bob, refused, hears nothing of it, and still gets what is his.
    slot_barrier(martin, c_bob)
    assert not c_bob.events("message:new"), c_bob.report()
    c_bob.assert_connected()
    c_martin.assert_connected()


def test_every_other_room_is_refused_and_the_socket_stays(node_clients, actors, conversation):
    alice, bob, martin = actors("alice@demo.fr"), actors("bob@demo.fr"), actors("dr.martin@demo.fr")
    c_bob = node_clients("bob", token=bob.access, transports=["websocket"])
    for room in [
        f"conversation:{conversation['id']}",  # not a participant
        "conversation:999999999",              # no such conversation
        f"user:{alice.id}", f"patient:{alice.id}", f"medecin:{martin.id}",
        "role:MEDECIN", "role:SUPERADMIN", "cabinet:1", "admincabinet:1",
        "conversation:abc", "conversation:", "n'importe quoi", "x" * 1000, "",
    ]:
        ack = c_bob.emit("join-room", room)
        assert ack["type"] == "error", (room, ack)
        assert isinstance(ack["message"], str) and ack["message"], (room, ack)
    for bad in [123, None, {"room": "user:1"}, ["conversation:1"]]:
        ack = c_bob.emit("join-room", bad)
        assert ack["type"] == "error", (bad, ack)
    # Leaving an automatic room or a room never joined is refused as well.
    assert c_bob.emit("leave-room", f"user:{bob.id}")["type"] == "error"
    assert c_bob.emit("leave-room", f"conversation:{conversation['id']}")["type"] == "error"

    c_bob.assert_connected()
    # Still in its own rooms: role:PATIENT events keep coming, nothing of alice's.
    send_message(martin, conversation["id"], "Message pour alice seulement")
    slot_barrier(martin, c_bob)
    assert not c_bob.events("message:new"), c_bob.report()


def test_join_and_leave_with_the_seeds_exact_call_shape(node_clients, actors, conversation):
    """``socket.emit('join-room', 'conversation:123')``: no ack callback, as in the seed."""
    alice, bob, martin = actors("alice@demo.fr"), actors("bob@demo.fr"), actors("dr.martin@demo.fr")
    room = f"conversation:{conversation['id']}"
    c_alice = node_clients("alice", token=alice.access, transports=["websocket"])
    c_alice_polling = node_clients("alice-polling", token=alice.access, transports=["polling"])
    c_bob = node_clients("bob", token=bob.access, transports=["websocket"])

    for c in (c_alice, c_alice_polling, c_bob):
        c.emit("join-room", room, ack=False)
        c.emit("join-room", "conversation:123", ack=False)  # the seed's literal example
    c_bob.emit("join-room", f"user:{alice.id}", ack=False)

    # Alice's own message is not for her user room: only the conversation room brings
    # it back to her sockets, so its arrival proves the ack-less join took effect. The
    # server handles socket events concurrently with REST calls and sent no ack to wait
    # for, so a message may beat the join: send until one arrives, then all must.
    sent = []
    for attempt in range(10):
        sent.append(send_message(alice, conversation["id"], f"Depuis un autre appareil ({attempt})"))
        last = sent[-1]["id"]
        try:
            for c in (c_alice, c_alice_polling):
                c.wait_event("message:new", lambda p, last=last: p["data"]["id"] == last, timeout=1.0)
            break
        except pytest.fail.Exception:
            continue
    else:
        pytest.fail(f"the ack-less join-room never took effect\n{c_alice.report()}\n{c_alice_polling.report()}")
    mine = sent[-1]

    # The seed's leave-room shape: alice's websocket leaves, her polling socket stays.
    # An acknowledged leave afterwards guarantees the room is left, whichever ran first.
    c_alice.emit("leave-room", room, ack=False)
    assert c_alice.emit("leave-room", room)["type"] in ("success", "error")
    c_alice.assert_connected()
    after = send_message(alice, conversation["id"], "Après avoir quitté la room")
    c_alice_polling.wait_event("message:new", lambda p: p["data"]["id"] == after["id"])
    slot_barrier(martin, c_alice, c_alice_polling, c_bob)
    for c in (c_alice, c_alice_polling):
        got = c.payloads("message:new", lambda p: p["data"]["id"] == mine["id"])
        assert len(got) == 1, c.report()
        assert_envelope(got[0])
        assert got[0]["data"] == mine
    assert not c_alice.payloads("message:new", lambda p: p["data"]["id"] == after["id"]), c_alice.report()
    assert not c_bob.events("message:new"), c_bob.report()

    for c in (c_alice, c_alice_polling, c_bob):
        c.assert_connected()
        # An emit without a callback gets nothing back: no stray events either.
        assert all(e["listened"] or e["event"].startswith("creneau:") for e in c.events()), c.report()


# --- holds and the waiting list (attente/) -------------------------------------------

def test_a_hold_takes_the_slot_away_from_followers_and_its_release_brings_it_back(node_clients, actors):
    alice, bob, bernard = actors("alice@demo.fr"), actors("bob@demo.fr"), actors("dr.bernard@demo.fr")
    c_alice = node_clients("alice", token=alice.access, transports=["websocket"])
    slot = publish_slot(bernard)
    assert c_alice.emit("join-room", f"creneaux:{slot['medecin']}")["type"] == "success"
    status, held = bob.call("POST", f"/creneaux/{slot['id']}/hold/")
    assert status == 201, held
    gone = c_alice.wait_event("creneau:unavailable", lambda p: p["data"]["id"] == slot["id"])
    assert_envelope(gone, type_="info")
    assert set(gone["data"]) == SLOT_KEYS and gone["data"]["disponible"] is False
    status, refused = alice.call("POST", "/rendezvous/", {"creneau": slot["id"], "motif": "x"})
    assert status == 409 and refused["code"] == "creneau_retenu", refused
    status, _ = bob.call("DELETE", f"/creneaux/{slot['id']}/hold/")
    assert status == 204
    back = c_alice.wait_event("creneau:available", lambda p: p["data"]["id"] == slot["id"]
                              and p["eventId"] > gone["eventId"])
    assert back["message"] == "Un créneau s'est libéré"
    c_alice.assert_connected()


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_a_waiting_list_offer_reaches_the_offered_patient_only(node_clients, actors, transports):
    alice, bob, chloe = actors("alice@demo.fr"), actors("bob@demo.fr"), actors("chloe@demo.fr")
    bernard, martin = actors("dr.bernard@demo.fr"), actors("dr.martin@demo.fr")
    slot = publish_slot(bernard)
    rdv = book(alice, slot)
    jour = slot["debut"][:10]  # the practice's day of the slot
    status, entry = chloe.call("POST", "/liste-attente/", {"medecin": bernard.id, "date_from": jour,
                                                            "date_to": jour})
    assert status == 201, entry

    c_alice = node_clients("alice", token=alice.access, transports=transports)
    c_bob = node_clients("bob", token=bob.access, transports=transports)
    c_chloe = node_clients("chloe", token=chloe.access, transports=transports)
    c_bernard = node_clients("dr.bernard", token=bernard.access, transports=transports)
    assert c_bob.emit("join-room", f"creneaux:{bernard.id}")["type"] == "success"

    status, cancelled = alice.call("POST", f"/rendezvous/{rdv['id']}/cancel/", {})
    assert status == 200, cancelled
    offered = c_chloe.wait_event("creneau:offered", lambda p: p["data"]["creneau"]["id"] == slot["id"])
    assert_envelope(offered, type_="info", message="Un créneau s'est libéré pour vous")
    assert set(offered["data"]) == {"creneau", "expire_at", "liste_attente"}
    assert offered["data"]["liste_attente"] == entry["id"]
    assert set(offered["data"]["creneau"]) == SLOT_KEYS
    assert datetime.fromisoformat(offered["data"]["expire_at"]) > datetime.now(UTC)
    # The agenda's followers see it held (after the cancellation freed it).
    c_bob.wait_event("creneau:unavailable", lambda p: p["data"]["id"] == slot["id"])
    status, refused = bob.call("POST", "/rendezvous/", {"creneau": slot["id"], "motif": "x"})
    assert status == 409 and refused["code"] == "creneau_retenu", refused

    slot_barrier(martin, c_alice, c_bob, c_chloe)
    staff_barrier(bernard, c_bob)
    assert len(c_chloe.events("creneau:offered")) == 1, c_chloe.report()
    for c in (c_alice, c_bob, c_bernard):
        assert not c.events("creneau:offered"), c.report()
    # Persistent: in the offered patient's notification centre, nobody else's.
    status, notes = chloe.call("GET", "/notifications/")
    assert status == 200 and any(n.get("eventId", n.get("id")) == offered["eventId"] for n in notes["results"]), notes

    # The offer is booked like any slot.
    mine = book(chloe, slot)
    assert mine["creneau"]["id"] == slot["id"]
    c_chloe.wait_event("rendezvous:created", lambda p: p["data"]["id"] == mine["id"])
    status, entries = chloe.call("GET", "/liste-attente/")
    assert status == 200 and not [e for e in entries if e["id"] == entry["id"]], entries
    for c in (c_alice, c_bob, c_chloe, c_bernard):
        event_ids_increase(c)
        c.assert_connected()
