"""serving/transport.py at the frame level: the bytes a client sees, lean sockets or stock.

The lean sockets (direct websocket writes, one heartbeat timer, slim queues) must not
change a byte on the wire: every frame here is asserted exactly, on a daphne with the
lean sockets (the default) and on one with python-engineio's own (ENGINEIO_LEAN_SOCKETS=0),
with pings every 1.2 s and a 0.8 s timeout (set in milliseconds) so heartbeats and ping
timeouts happen within the test.

The protocol rules the project adds to python-engineio (the Engine.IO v4 spec and the
official test suite: bench/README.md "Conformance") each have a test here too, on both.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sys
import time

import aiohttp
import pytest

from serving.transport import SlimQueue

from .conftest import has_postgres
from .live import http, login, start_stack
from .rt import USERS

# ---- SlimQueue --------------------------------------------------------------------------


async def test_slim_queue_is_fifo_and_wakes_a_waiting_getter():
    q = SlimQueue()
    assert q.empty() and q.qsize() == 0
    getter = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    assert not getter.done()
    q.put_nowait("a")
    await q.put("b")
    assert await getter == "a"
    assert q.get_nowait() == "b"
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()


async def test_slim_queue_holds_no_deque_while_empty():
    q = SlimQueue()
    assert q._items is None
    q.put_nowait(1)
    assert q._items is not None
    q.get_nowait()
    assert q._items is None and q._getters is None


async def test_slim_queue_cancelled_getter_hands_its_wakeup_to_the_next():
    q = SlimQueue()
    first = asyncio.ensure_future(q.get())
    second = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    q.put_nowait("x")  # wakes the first getter...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "x"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert q.empty() and q._getters is None


async def test_slim_queue_getter_timeout_leaves_it_usable():
    q = SlimQueue()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(q.get(), 0.05)
    q.put_nowait("later")
    assert await asyncio.wait_for(q.get(), 1) == "later"


async def test_slim_queue_join_returns_once_everything_was_taken():
    q = SlimQueue()
    await asyncio.wait_for(q.join(), 1)  # empty: at once
    q.put_nowait(1)
    q.put_nowait(2)
    joined = asyncio.ensure_future(q.join())
    await asyncio.sleep(0)
    q.get_nowait()
    await asyncio.sleep(0)
    assert not joined.done()
    q.get_nowait()
    await asyncio.wait_for(joined, 1)


# ---- a websocket that is closing, met by the heartbeat or by a room delivery -----------------


def closed_daphne_websocket(state: str = "STATE_CLOSED"):
    """A real daphne websocket protocol in the window between autobahn no longer sending
    (a client's CLOSE frame: autobahn answers and drops the TCP, ``STATE_CLOSED``; or a
    close handshake under way, ``STATE_CLOSING``) and Twisted reporting the connection lost,
    which is when daphne marks the connection "disconnected". 5,000 sockets closing at once
    at the end of a held bench met the heartbeat there (bench/README.md, issue 11)."""
    from daphne.ws_protocol import WebSocketProtocol

    from serving.transport import DaphneWebsocket

    protocol = WebSocketProtocol()
    protocol.state = getattr(protocol, state)
    protocol.client_addr = ("127.0.0.1", 50000)
    return DaphneWebsocket({protocol: {"connected": time.time()}}, protocol)


class StandInSocket:
    """What the heartbeat and the room delivery use of an engine.io socket."""

    def __init__(self, sid: str, websocket=None, error: Exception | None = None) -> None:
        self.sid, self.websocket, self.error = sid, websocket, error
        self.closing = self.closed = False
        self.last_ping = None
        self.frames: list = []

    def send_nowait(self, pkt) -> None:
        if self.error is not None:
            raise self.error
        if self.websocket is not None:
            self.websocket.write(pkt.encode())
        else:
            self.frames.append(pkt.encode())


@pytest.mark.parametrize("state", ["STATE_CLOSED", "STATE_CLOSING"])
def test_a_frame_to_a_websocket_autobahn_no_longer_sends_on_is_dropped(state):
    websocket = closed_daphne_websocket(state)
    websocket.write("2")  # was autobahn.exception.Disconnected
    websocket.write(b"\x04binary")


async def test_heartbeat_pings_the_rest_of_the_tick_when_a_socket_cannot_be_written(caplog):
    from types import SimpleNamespace

    from serving.transport import Heartbeat

    beat = Heartbeat(SimpleNamespace(ping_interval=25))
    closing = StandInSocket("closing", websocket=closed_daphne_websocket())
    broken = StandInSocket("broken", error=RuntimeError("a bug elsewhere"))
    healthy = StandInSocket("healthy")
    later = StandInSocket("later")
    now = math.floor(time.monotonic() / beat.tick)
    beat.buckets = {now - 1: [closing, broken, healthy], now + 400: [later]}
    try:
        with caplog.at_level(logging.ERROR, logger="serving.transport"):
            beat._fire()
        assert healthy.frames == ["2"]  # pinged although two sockets before it failed
        assert healthy.last_ping is not None and closing.last_ping is not None
        assert beat._timer is not None and list(beat.buckets) == [now + 400]  # re-armed
        assert later.frames == []
        failures = [r for r in caplog.records if r.name == "serving.transport"]
        assert len(failures) == 1 and "broken" in failures[0].getMessage()  # the closing one is not an error
    finally:
        if beat._timer is not None:
            beat._timer.cancel()


async def test_a_room_delivery_reaches_the_rest_of_the_room_when_a_socket_cannot_be_written(
        monkeypatch, caplog):
    import socketio

    import serving
    from realtime.manager import ChannelLayerManager

    manager = ChannelLayerManager()
    server = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
    monkeypatch.setattr(serving, "_installed", {*serving._installed, serving.ONE_FRAME_DELIVERY})
    sockets = {"closing": StandInSocket("closing", websocket=closed_daphne_websocket()),
               "broken": StandInSocket("broken", error=RuntimeError("a bug elsewhere")),
               "healthy": StandInSocket("healthy")}
    for eio_sid, socket in sockets.items():
        server.eio.sockets[eio_sid] = socket
        await manager.enter_room(await manager.connect(eio_sid, "/"), "/", "role:PATIENT", eio_sid=eio_sid)
    with caplog.at_level(logging.ERROR, logger="realtime.manager"):
        sent = await manager.deliver("/", "role:PATIENT", None, ["notification:general", {"type": "info"}])
    assert sockets["healthy"].frames == ['42["notification:general",{"type":"info"}]']
    assert sent == 2  # the broken socket is not counted
    failures = [r for r in caplog.records if r.name == "realtime.manager"]
    assert len(failures) == 1 and "notification:general" in failures[0].getMessage()


# ---- settings -----------------------------------------------------------------------------


def test_ping_settings_in_milliseconds_or_in_seconds(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from medical_booking.settings import env_seconds

    name = "SOCKETIO_PING_INTERVAL"
    monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(name + "_MS", raising=False)
    assert env_seconds(name, 25) == 25.0
    monkeypatch.setenv(name, "2")  # the old name, whole seconds
    assert env_seconds(name, 25) == 2.0
    monkeypatch.setenv(name, "0.3")  # ... or not
    assert env_seconds(name, 25) == 0.3
    monkeypatch.setenv(name + "_MS", "250")  # milliseconds win
    assert env_seconds(name, 25) == 0.25
    for bad in ("0", "-5", "1.5", "abc"):
        monkeypatch.setenv(name + "_MS", bad)
        with pytest.raises(ImproperlyConfigured, match=name):
            env_seconds(name, 25)
    monkeypatch.delenv(name + "_MS")
    for bad in ("0", "nan", "inf", "x"):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ImproperlyConfigured, match=name):
            env_seconds(name, 25)


# ---- a second POST, at the ASGI level ----------------------------------------------------


async def asgi_request(app, method: str, query: str, body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP request through an ASGI app, as daphne delivers it (the whole body at once)."""
    scope = {"type": "http", "method": method, "path": "/engine.io/", "query_string": query.encode(),
             "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
             "scheme": "http", "http_version": "1.1"}
    received = iter([{"type": "http.request", "body": body, "more_body": False}])
    sent = []

    async def receive():
        return next(received, {"type": "http.disconnect"})

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def test_a_second_post_while_one_is_pending_closes_the_session(monkeypatch):
    """Daphne hands the app a POST once its body is complete, so a second POST of a session
    overlaps the first only while the first one's packets are being handled (a Socket.IO
    CONNECT waits for its authentication there). The project's transport on an engine.io
    server whose message handler holds the first POST until the test lets it go."""
    import engineio

    transport = sys.modules[SlimQueue.__module__]  # the project's transport module
    if engineio.async_socket.AsyncSocket.handle_post_request is not transport.handle_post_request:
        # Patched for this test only: every attribute install() may set comes back after it.
        for name in ("poll", "handle_post_request", "receive", "send", "handle_get_request"):
            monkeypatch.setattr(engineio.async_socket.AsyncSocket, name,
                                vars(engineio.async_socket.AsyncSocket)[name])
        for name in ("_websocket", "send_nowait", "_long_poll", "_posting"):
            monkeypatch.setattr(engineio.async_socket.AsyncSocket, name, None, raising=False)
        monkeypatch.setattr(transport, "_installed", set())
        transport.install(lean=False)  # the rule is in the part installed whatever the sockets
    assert engineio.async_socket.AsyncSocket.handle_post_request is transport.handle_post_request
    # python-socketio runs engine.io message handlers inline (async_handlers=False), as here
    eio = engineio.AsyncServer(async_mode="asgi", ping_interval=25, ping_timeout=20, async_handlers=False)
    app = engineio.ASGIApp(eio, engineio_path="engine.io")
    release, messages = asyncio.Event(), []

    @eio.on("message")
    async def message(sid, data):
        messages.append(data)
        await release.wait()

    try:
        status, opened = await asgi_request(app, "GET", "EIO=4&transport=polling")
        assert status == 200
        query = "EIO=4&transport=polling&sid=" + json.loads(opened[1:])["sid"]
        first = asyncio.ensure_future(asgi_request(app, "POST", query, b"4first"))
        while not messages:
            await asyncio.sleep(0.01)
        second = await asyncio.wait_for(asgi_request(app, "POST", query, b"4second"), 5)
        assert second == (400, b'"Bad Request"')
        release.set()
        assert (await asyncio.wait_for(first, 5))[0] == 200  # it was taken before the second
        assert messages == ["first"]  # the second POST's packets were not
        assert (await asgi_request(app, "GET", query))[0] == 400  # the session is closed
    finally:
        release.set()
        await eio.shutdown()


# ---- frames on the wire -----------------------------------------------------------------

# Not whole seconds: the handshake must give them exactly (python-engineio wrote
# int(seconds) * 1000, 1000 for 1.2 s).
PING_INTERVAL_MS, PING_TIMEOUT_MS = 1200, 800
PING_SECONDS = PING_INTERVAL_MS / 1000


@pytest.fixture(scope="module", params=["lean", "stock"])
def fast_pings(request, tmp_path_factory):
    env = {"SOCKETIO_PING_INTERVAL_MS": str(PING_INTERVAL_MS),
           "SOCKETIO_PING_TIMEOUT_MS": str(PING_TIMEOUT_MS)}
    if request.param == "stock":
        env.update(ENGINEIO_LEAN_SOCKETS="0", DAPHNE_SLIM_QUEUES="0")
    stack = start_stack(tmp_path_factory.mktemp(f"pings-{request.param}"), postgres=has_postgres(),
                        extra_env=env)
    stack.lean = request.param == "lean"
    yield stack
    stack.close()


def ws_url(base: str, query: str) -> str:
    return base.replace("http://", "ws://") + "/socket.io/?EIO=4&" + query


async def frame(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5) -> str:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return msg.data


async def frame_skipping_pings(ws, timeout: float = 5) -> str:
    """The next frame that is not a PING (answered) or a NOOP (clients ignore those)."""
    deadline = time.monotonic() + timeout
    while True:
        data = await frame(ws, max(0.1, deadline - time.monotonic()))
        if data == "2":
            await ws.send_str("3")
        elif data != "6":
            return data


def broadcast(base: str, admin: str, message: str) -> None:
    status, body = http("POST", f"{base}/api/notifications/broadcast/", {"message": message},
                        token=admin)
    assert status == 201, body


@pytest.mark.e2e
async def test_websocket_frames_open_connect_heartbeat_and_event(fast_pings):
    base = fast_pings.url
    token = login(base, USERS["alice"])["access"]
    admin = login(base, USERS["admin"])["access"]
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(base, "transport=websocket")) as ws:
            opened = await frame(ws)
            assert opened[0] == "0"
            handshake = json.loads(opened[1:])
            assert set(handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
            assert handshake["upgrades"] == []
            assert handshake["pingInterval"] == PING_INTERVAL_MS
            assert handshake["pingTimeout"] == PING_TIMEOUT_MS

            await ws.send_str("40" + json.dumps({"token": token}))
            connected = await frame(ws)
            assert connected.startswith('40{"sid":"') and connected.endswith('"}')

            # The heartbeat: a PING ("2") about every interval, each after the last PONG.
            for _ in range(3):
                started = time.monotonic()
                assert await frame(ws, timeout=PING_SECONDS * 4) == "2"
                assert time.monotonic() - started < PING_SECONDS * 3
                await ws.send_str("3")

            # An event is one text frame: "42" + the JSON array [name, payload].
            broadcast(base, admin, "transport-frame")
            event = await frame_skipping_pings(ws)
            assert event.startswith('42["notification:general",')
            name, payload = json.loads(event[2:])
            assert name == "notification:general"
            assert set(payload) == {"type", "message", "data", "eventId", "emittedAt"}
            assert payload["message"] == "transport-frame" and payload["type"] == "info"

            # Still alive after a few more heartbeats, answered.
            deadline = time.monotonic() + PING_SECONDS * 3
            while time.monotonic() < deadline:
                data = await frame(ws, timeout=PING_SECONDS * 4)
                assert data == "2"
                await ws.send_str("3")
            assert not ws.closed


@pytest.mark.e2e
async def test_a_client_that_stops_answering_pings_is_dropped(fast_pings):
    base = fast_pings.url
    token = login(base, USERS["bob"])["access"]
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(base, "transport=websocket")) as ws:
            assert (await frame(ws))[0] == "0"
            await ws.send_str("40" + json.dumps({"token": token}))
            assert (await frame(ws)).startswith("40")
            assert await frame(ws, timeout=PING_SECONDS * 4) == "2"
            # no PONG: the server closes within the ping timeout (+ its sweep)
            started = time.monotonic()
            while True:
                msg = await ws.receive(timeout=PING_SECONDS * 10)
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                aiohttp.WSMsgType.CLOSING):
                    break
                assert msg.type == aiohttp.WSMsgType.TEXT and msg.data == "1", msg  # CLOSE packet
            assert time.monotonic() - started < PING_SECONDS * 8
    # and the server keeps serving
    status, me = http("GET", f"{base}/api/me/", token=token)
    assert status == 200, me


@pytest.mark.e2e
async def test_polling_upgrade_to_websocket_then_events_on_the_websocket(fast_pings):
    base = fast_pings.url
    token = login(base, USERS["chloe"])["access"]
    admin = login(base, USERS["admin"])["access"]
    polling = base + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as session:
        async with session.get(polling) as resp:
            opened = await resp.text()
        assert opened[0] == "0"
        handshake = json.loads(opened[1:])
        assert handshake["upgrades"] == ["websocket"]
        sid = handshake["sid"]
        async with session.post(f"{polling}&sid={sid}", data="40" + json.dumps({"token": token})) as resp:
            assert await resp.text() == "ok"
        async with session.get(f"{polling}&sid={sid}") as resp:
            assert (await resp.text()).startswith('40{"sid":"')
        # A long-poll waits while the upgrade happens; the probe ends it with a NOOP ("6").
        pending = asyncio.ensure_future(session.get(f"{polling}&sid={sid}"))
        async with session.ws_connect(ws_url(base, f"transport=websocket&sid={sid}")) as ws:
            await ws.send_str("2probe")
            assert await frame(ws) == "3probe"
            resp = await asyncio.wait_for(pending, 5)
            assert await resp.text() == "6"
            await ws.send_str("5")  # UPGRADE
            broadcast(base, admin, "after-upgrade")
            event = await frame_skipping_pings(ws)
            name, payload = json.loads(event[2:])
            assert (name, payload["message"]) == ("notification:general", "after-upgrade")


# ---- protocol rules beyond python-engineio (Engine.IO v4 spec, official test suite) -------


def polling_url(base: str, query: str = "EIO=4&transport=polling") -> str:
    return f"{base}/socket.io/?{query}"


async def open_polling(session: aiohttp.ClientSession, base: str) -> tuple[str, dict]:
    """A new long-polling session: its URL (with the sid) and the handshake."""
    async with session.get(polling_url(base)) as resp:
        assert resp.status == 200
        opened = await resp.text()
    assert opened[0] == "0"
    handshake = json.loads(opened[1:])
    return polling_url(base) + f"&sid={handshake['sid']}", handshake


async def test_polling_handshake_gives_the_heartbeat_in_exact_milliseconds(fast_pings):
    async with aiohttp.ClientSession() as session:
        _, handshake = await open_polling(session, fast_pings.url)
    assert handshake["upgrades"] == ["websocket"]
    assert (handshake["pingInterval"], handshake["pingTimeout"]) == (PING_INTERVAL_MS, PING_TIMEOUT_MS)


async def test_polling_request_with_another_method_answers_400(fast_pings):
    base = fast_pings.url
    async with aiohttp.ClientSession() as session:
        url, _ = await open_polling(session, base)
        for method in ("PUT", "DELETE", "PATCH"):
            for target in (polling_url(base), url):  # a handshake, a session's request
                async with session.request(method, target, data="40") as resp:
                    assert (resp.status, await resp.text()) == (400, '"Unsupported request method"'), method
        async with session.post(polling_url(base), data="40") as resp:  # POST without a session
            assert resp.status == 400
        async with session.options(url) as resp:  # the CORS preflight still answers
            assert resp.status == 200
        # the refusals did not touch the session: it still polls
        async with session.post(url, data="3") as resp:
            assert resp.status == 200


async def test_polling_request_without_eio_or_transport_answers_400(fast_pings):
    base = fast_pings.url
    async with aiohttp.ClientSession() as session:
        url, handshake = await open_polling(session, base)
        sid = handshake["sid"]
        for query in ("EIO=4", "EIO=4&transport=abc", "transport=polling", "EIO=3&transport=polling",
                      f"EIO=4&sid={sid}", f"transport=polling&sid={sid}", f"EIO=3&transport=polling&sid={sid}"):
            async with session.get(polling_url(base, query)) as resp:
                assert resp.status == 400, query
            async with session.post(polling_url(base, query), data="3") as resp:
                assert resp.status == 400, query
        # a websocket without transport=websocket (stock opened a polling session on it)
        for query in ("EIO=4", "EIO=4&transport=polling", "transport=websocket"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(ws_url(base, query).replace("EIO=4&", "", 1))
            assert refused.value.status == 403, query
        async with session.post(url, data="3") as resp:
            assert resp.status == 200


async def test_polling_post_answers_ok(fast_pings):
    async with aiohttp.ClientSession() as session:
        url, _ = await open_polling(session, fast_pings.url)
        async with session.post(url, data="3") as resp:
            assert resp.status == 200
            assert await resp.text() == "ok"  # the protocol's word; python-engineio wrote "OK"


async def test_polling_heartbeat_keeps_an_answering_session_open(fast_pings):
    async with aiohttp.ClientSession() as session:
        url, _ = await open_polling(session, fast_pings.url)
        for _ in range(3):  # three heartbeats: well past pingInterval + pingTimeout
            async with session.get(url) as resp:
                assert (resp.status, await resp.text()) == (200, "2")
            async with session.post(url, data="3") as resp:
                assert resp.status == 200


async def test_a_second_long_poll_while_one_is_pending_closes_the_session(fast_pings):
    async with aiohttp.ClientSession() as session:
        url, _ = await open_polling(session, fast_pings.url)
        first = asyncio.ensure_future(session.get(url))
        await asyncio.sleep(0.2)  # the first poll waits: nothing to send before the first ping
        assert not first.done()
        async with session.get(url + "&t=second") as resp:
            assert resp.status == 400
        resp = await asyncio.wait_for(first, 5)
        assert (resp.status, await resp.text()) == (200, "1")  # CLOSE
        async with session.get(url) as resp:
            assert resp.status == 400  # the session is gone


async def test_an_unanswered_ping_closes_a_polling_session_by_the_deadline(fast_pings):
    async with aiohttp.ClientSession() as session:
        url, _ = await open_polling(session, fast_pings.url)
        # No poll, so no PONG: pingInterval + pingTimeout later the session is closed (the
        # request finds it so, whatever the service task's sweep has done yet).
        await asyncio.sleep((PING_INTERVAL_MS + PING_TIMEOUT_MS) / 1000 + 0.25)
        async with session.get(url) as resp:
            assert resp.status == 400


async def test_close_packet_over_polling_ends_the_pending_poll_and_the_session(fast_pings):
    async with aiohttp.ClientSession() as session:
        url, _ = await open_polling(session, fast_pings.url)
        pending = asyncio.ensure_future(session.get(url))
        await asyncio.sleep(0.2)
        assert not pending.done()
        async with session.post(url, data="1") as resp:  # CLOSE
            assert resp.status == 200
        # at once (stock left the poll waiting until the ping timeout)
        resp = await asyncio.wait_for(pending, PING_TIMEOUT_MS / 1000)
        assert (resp.status, await resp.text()) == (200, "6")  # NOOP
        async with session.get(url) as resp:
            assert resp.status == 400


async def test_close_packet_over_websocket_closes_it_at_once(fast_pings):
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(ws_url(fast_pings.url, "transport=websocket")) as ws:
            assert (await frame(ws))[0] == "0"
            await ws.send_str("1")  # CLOSE
            # before the first ping is due (stock kept reading until the ping timeout)
            msg = await ws.receive(timeout=PING_SECONDS * 0.8)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg


async def upgrade(session: aiohttp.ClientSession, base: str, url: str, sid: str):
    """Probe and UPGRADE on a new websocket of the session (the probe answered exactly)."""
    ws = await session.ws_connect(ws_url(base, f"transport=websocket&sid={sid}"))
    await ws.send_str("2probe")
    assert await frame(ws) == "3probe"
    return ws


async def test_upgrade_sends_noop_to_a_pending_poll_only(fast_pings):
    base = fast_pings.url
    admin = login(base, USERS["admin"])["access"]
    token = login(base, USERS["alice"])["access"]
    async with aiohttp.ClientSession() as session:
        url, handshake = await open_polling(session, base)
        async with session.post(url, data="40" + json.dumps({"token": token})) as resp:
            assert resp.status == 200
        async with session.get(url) as resp:
            assert (await resp.text()).startswith('40{"sid":"')
        ws = await upgrade(session, base, url, handshake["sid"])  # no poll pending
        async with session.get(url) as resp:  # a poll while upgrading: a NOOP at once
            assert (resp.status, await resp.text()) == (200, "6")
        await ws.send_str("5")  # UPGRADE
        await asyncio.sleep(0.2)
        async with session.get(url) as resp:  # polling is over for this session
            assert resp.status == 400
        broadcast(base, admin, "noop-only-to-polls")
        first = await frame(ws)
        while first == "2":
            await ws.send_str("3")
            first = await frame(ws)
        if not fast_pings.lean:
            # python-engineio queues a NOOP at the probe whether or not a poll is pending;
            # with none pending it goes out on the websocket (harmless: clients skip it)
            assert first == "6"
            first = await frame_skipping_pings(ws)
        assert first.startswith('42["notification:general",')
        await ws.close()


async def test_a_second_websocket_of_an_upgraded_session_is_closed(fast_pings):
    base = fast_pings.url
    admin = login(base, USERS["admin"])["access"]
    token = login(base, USERS["bob"])["access"]
    async with aiohttp.ClientSession() as session:
        url, handshake = await open_polling(session, base)
        sid = handshake["sid"]
        async with session.post(url, data="40" + json.dumps({"token": token})) as resp:
            assert resp.status == 200
        async with session.get(url) as resp:
            assert (await resp.text()).startswith('40{"sid":"')
        ws = await upgrade(session, base, url, sid)
        # a second websocket while the first is upgrading: accepted, then closed at once
        # (python-engineio refused the handshake: a 403, an error for clients)
        async with session.ws_connect(ws_url(base, f"transport=websocket&sid={sid}")) as extra:
            msg = await extra.receive(timeout=5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
        await ws.send_str("5")
        await asyncio.sleep(0.2)
        async with session.ws_connect(ws_url(base, f"transport=websocket&sid={sid}")) as extra:
            msg = await extra.receive(timeout=5)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), msg
        # the first websocket carries on
        broadcast(base, admin, "second-websocket")
        event = await frame_skipping_pings(ws)
        assert json.loads(event[2:])[1]["message"] == "second-websocket"
        await ws.close()
