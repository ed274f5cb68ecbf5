"""Helpers for the end-to-end real-time tests: recording Socket.IO clients, fresh slots.

Every client records every event it receives (a catch-all handler), so a test can assert
both what arrived and what did not. ``barrier`` makes "nothing else arrived" exact
rather than a sleep: a broadcast to everyone is emitted after the events under test, and
each server delivers a socket's events in commit order, so once every client has the
barrier, anything addressed to it earlier has arrived too.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import socketio

from .live import http, login

SERIE_SIZE = 10_000
SERIE_MINUTES = 5

USERS = {
    "alice": "alice@demo.fr",
    "bob": "bob@demo.fr",
    "chloe": "chloe@demo.fr",
    "martin": "dr.martin@demo.fr",
    "bernard": "dr.bernard@demo.fr",
    "secretariat": "secretariat@demo.fr",
    "admin": "admin@demo.fr",
}
PAYLOAD_KEYS = {"type", "message", "data", "eventId", "emittedAt"}

# --- fresh slot times: far in the future, never overlapping within a test session ----
_BASE = (datetime.now(UTC) + timedelta(days=400)).replace(
    hour=6, minute=0, second=0, microsecond=0
)
_cursor = itertools.count()
_serie_cursor = itertools.count()


def fresh_slot(minutes: int = 30) -> tuple[str, str]:
    """A unique (debut, fin) pair, ISO 8601 UTC, 400+ days ahead."""
    debut = _BASE + timedelta(hours=next(_cursor))
    return debut.isoformat(), (debut + timedelta(minutes=minutes)).isoformat()


def fresh_period(days: int) -> tuple[datetime, datetime]:
    """A unique period of ``days`` days for series, far away from ``fresh_slot``'s."""
    start = _BASE + timedelta(days=3650 + next(_serie_cursor) * (days + 1))
    return start, start + timedelta(days=days)


class Recorder:
    """A python-socketio AsyncClient that records everything it receives."""

    def __init__(self, name: str = "", transports: list[str] | None = None) -> None:
        self.name = name
        self.transports = transports or ["websocket"]
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, object]] = []
        self.connect_errors: list[object] = []
        self.disconnects: list[tuple[float, object]] = []
        self.connected_at: float | None = None
        self.user: dict | None = None

        @self.sio.on("*")
        async def _any(event, *args):
            self.events.append((event, args[0] if len(args) == 1 else args))

        @self.sio.event
        async def connect_error(data=None):
            self.connect_errors.append(data)

        @self.sio.event
        async def disconnect(*args):
            self.disconnects.append((time.monotonic(), args[0] if args else None))

    async def connect(self, url: str, token: str | None = None, *, headers: dict | None = None,
                      auth: object = None) -> None:
        if auth is None and token is not None:
            auth = {"token": token}
        await self.sio.connect(url, auth=auth, headers=headers or {}, transports=self.transports,
                               socketio_path="socket.io", wait_timeout=10)
        self.connected_at = time.monotonic()

    async def try_connect(self, url: str, **kwargs) -> str | None:
        """Connect; on refusal return the connect_error message (None when accepted)."""
        task = asyncio.ensure_future(self.connect(url, **kwargs))
        while not task.done() and not self.connect_errors:
            await asyncio.sleep(0.01)
        if not task.done():
            # Refused: over polling, python-engineio's client then waits for its pending
            # long-poll GET (answered at the next ping, 25 s later); don't wait for it.
            await asyncio.wait([task], timeout=1.0)
            if not task.done():
                task.cancel()
        try:
            await task
        except (socketio.exceptions.ConnectionError, asyncio.CancelledError):
            pass
        else:
            if not self.connect_errors:
                return None
        assert self.connect_errors, "refused without a connect_error event"
        return error_message(self.connect_errors[-1])

    async def close(self) -> None:
        if not self.sio.connected:
            return
        if self.sio.transport() == "polling":
            # python-engineio's client waits for its pending long-poll GET, which the
            # server only answers at the next ping (25 s): give up on it after a moment.
            try:
                await asyncio.wait_for(self.sio.disconnect(), 1.0)
            except TimeoutError:
                pass
        else:
            await self.sio.disconnect()

    def named(self, event: str) -> list[dict]:
        return [p for e, p in self.events if e == event]

    def matching(self, event: str, pred=lambda p: True) -> list[dict]:
        return [p for p in self.named(event) if pred(p)]

    async def wait_for(self, event: str, pred=lambda p: True, *, count: int = 1,
                       timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.matching(event, pred)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = [(e, _short(p)) for e, p in self.events[-10:]]
                raise AssertionError(
                    f"{self.name}: expected {count} {event!r}, got {len(found)}; last events: {seen}"
                )
            await asyncio.sleep(0.01 if count < 100 else 0.1)

    async def call(self, event: str, *args, timeout: float = 10.0):
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)
        return await self.sio.call(event, data, timeout=timeout)


def error_message(data: object) -> object:
    if isinstance(data, dict):
        return data.get("message")
    if isinstance(data, list | tuple) and data:
        return error_message(data[0])
    return data


def _short(payload: object) -> str:
    text = json.dumps(payload, ensure_ascii=False, default=str)
    return text if len(text) < 160 else text[:157] + "..."


def assert_payload(payload: dict, *, type_: str, message: str, data=None) -> None:
    """The seed's structure plus eventId/emittedAt, with exact strings."""
    assert set(payload) == PAYLOAD_KEYS, payload
    assert payload["type"] == type_, payload
    assert payload["message"] == message, payload
    assert isinstance(payload["eventId"], int) and payload["eventId"] > 0, payload
    datetime.fromisoformat(payload["emittedAt"])
    if data is not None:
        assert payload["data"] == data, (payload["data"], data)


class Party:
    """Logged-in demo users with connected recording sockets on one server."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.tokens: dict[str, dict] = {}
        self.me: dict[str, dict] = {}
        self.clients: dict[str, Recorder] = {}

    def token(self, who: str) -> str:
        if who not in self.tokens:
            self.tokens[who] = login(self.url, USERS[who])
            status, me = http("GET", f"{self.url}/api/me/", token=self.tokens[who]["access"])
            assert status == 200, me
            self.me[who] = me
        return self.tokens[who]["access"]

    def id(self, who: str) -> int:
        self.token(who)
        return self.me[who]["id"]

    async def connect(self, *names: str, transports: list[str] | None = None,
                      url: str | None = None, key: str | None = None) -> list[Recorder]:
        out = []
        for who in names:
            client = Recorder(key or who, transports)
            await client.connect(url or self.url, self.token(who))
            client.user = self.me[who]
            self.clients[key or who] = client
            out.append(client)
        return out

    def api(self, who: str, method: str, path: str, body=None, url: str | None = None):
        return http(method, f"{url or self.url}/api/{path.lstrip('/')}", body, self.token(who))

    async def barrier(self, clients: list[Recorder] | None = None, timeout: float = 20.0,
                      url: str | None = None) -> None:
        """Broadcast to everyone and wait until every client has it."""
        marker = f"barrier-{uuid.uuid4().hex}"
        status, body = self.api("admin", "POST", "notifications/broadcast/", {"message": marker},
                                url=url)
        assert status == 201, body
        for client in clients or list(self.clients.values()):
            await client.wait_for("notification:general", lambda p: p["message"] == marker,
                                  timeout=timeout)

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients.values()), return_exceptions=True)

    # --- domain shortcuts -----------------------------------------------------------
    def publish(self, doctor: str = "martin", minutes: int = 30) -> dict:
        debut, fin = fresh_slot(minutes)
        status, slot = self.api(doctor, "POST", "creneaux/", {"debut": debut, "fin": fin})
        assert status == 201, slot
        return slot

    def book(self, patient: str, slot_id: int, motif: str = "Consultation") -> dict:
        status, rdv = self.api(patient, "POST", "rendezvous/", {"creneau": slot_id, "motif": motif})
        assert status == 201, rdv
        return rdv

    def conversation(self, patient: str = "alice", doctor: str = "martin") -> int:
        """The patient's conversation with the doctor (after booking with them): its id."""
        self.book(patient, self.publish(doctor)["id"])
        status, conv = self.api(patient, "POST", "conversations/", {"participant": self.id(doctor)})
        assert status in (200, 201), conv
        return conv["id"]

    async def serie(self, doctor: str, count: int = SERIE_SIZE, minutes: int = SERIE_MINUTES,
              url: str | None = None) -> tuple[datetime, int]:
        """POST /api/creneaux/serie/: ``count`` back-to-back slots in one transaction."""
        start, _ = fresh_period(count * minutes // (24 * 60) + 1)
        end = start + timedelta(minutes=count * minutes)
        # In a thread: the clients' event loop must keep answering pings meanwhile.
        status, body = await asyncio.to_thread(
            http, "POST", f"{url or self.url}/api/creneaux/serie/",
            {"debut": start.isoformat(), "fin": end.isoformat(), "duree_minutes": minutes},
            self.token(doctor), timeout=600,  # a 10,000-slot series is one request
        )
        assert status == 201 and body == {"count": count}, body
        return start, count

