"""serving/transport.py at the frame level: the bytes a client sees, lean sockets or stock.

The lean sockets (direct websocket writes, one heartbeat timer, slim queues) must not
change a byte on the wire: every frame here is asserted exactly, on a daphne with the
lean sockets (the default) and on one with python-engineio's own (ENGINEIO_LEAN_SOCKETS=0),
with 1-second pings so heartbeats and ping timeouts happen within the test.
"""

from __future__ import annotations

import asyncio
import json
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


# ---- frames on the wire -----------------------------------------------------------------

PING_SECONDS = 1


@pytest.fixture(scope="module", params=["lean", "stock"])
def fast_pings(request, tmp_path_factory):
    env = {"SOCKETIO_PING_INTERVAL": str(PING_SECONDS), "SOCKETIO_PING_TIMEOUT": str(PING_SECONDS)}
    if request.param == "stock":
        env.update(ENGINEIO_LEAN_SOCKETS="0", DAPHNE_SLIM_QUEUES="0")
    stack = start_stack(tmp_path_factory.mktemp(f"pings-{request.param}"), postgres=has_postgres(),
                        extra_env=env)
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
            assert handshake["pingInterval"] == PING_SECONDS * 1000
            assert handshake["pingTimeout"] == PING_SECONDS * 1000

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
            assert await resp.text() == "OK"
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
