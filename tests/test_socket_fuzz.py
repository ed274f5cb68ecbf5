"""A bounded fuzz of the socket server with raw Engine.IO/Socket.IO frames.

Tens of thousands of malformed packets, over websockets and HTTP long-polling, from
sockets without a token and from authenticated ones: bad packet types, bad JSON, bad
namespaces, binary garbage, huge acknowledgement ids, wrong attachments, packets out of
state, oversize frames. Each one is a protocol error that closes its connection, so
each needs a connection of its own: the clients are raw asyncio streams (a few bytes
written, one frame read), which keeps the client side light.

Afterwards the server is alive and serves an honest client; its log grew by a bounded
number of bytes (client errors are one rate-limited line each, never a traceback: the
access log, one line per request by design, is written to its own file and reported
apart); its resident memory grew by a bounded amount.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import struct
import time
from pathlib import Path

import pytest

from .live import Server, free_port, http, login
from .rt import Recorder

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# one protocol error each (a few send two); FUZZ_SESSIONS to try other sizes
SESSIONS_PER_TRANSPORT = int(os.environ.get("FUZZ_SESSIONS", 10_000))
AUTHENTICATED_EVERY = 10  # one session in ten connects with a valid token first
CONCURRENCY = 24
# The target logs at most LOG_LINES client errors per LOG_SECONDS (shorter than the
# default 60 s, so that several intervals pass during the test), plus one summary each.
LOG_LINES, LOG_SECONDS = 20, 3
LINE_BYTES = 300  # a client-error line is ~130 bytes
# Closed connections leave reference cycles that the server's full collections reclaim
# once its memory grew by GC_FULL_RSS_GROWTH_MB (64 MB): growth stops around there.
RSS_BOUND_KIB = 128 * 1024
RSS_HALF_BOUND_KIB = 48 * 1024

# ---- the corpus --------------------------------------------------------------------------
# Engine.IO-level (a whole frame or polling packet), then Socket.IO-level ("4" + packet).

ENGINEIO_BAD = ["", "x", "9", "7hello", "0", "6", "b!!!", "0{}", "\x00", "4" + "\ud800"]
SOCKETIO_BAD = [
    "", "7", "9[]", "x", "-1", " 2", "٢[\"x\"]",  # not a packet / unknown type / unicode digit
    '2["x"', '2{"a":', "2[1,2", '0{"token":', '2["x"]]', "2" + "[" * 5000 + "]" * 5000,  # bad JSON
    '0[1,2]', '0"token"', '0123', '07{"token":"x"}', "4\"err\"", '1{"a":1}', '15',  # wrong payload, ids
    '2nope,["x"]', '2/admin,["x"]', '2/x\x00,["x"]', "2/" + "a" * 500 + ',["x"]',  # bad namespaces
    '2' + "9" * 50 + '["x"]', '2' + "1" * 101 + '["x"]', '31["x"]', '3' + "9" * 30 + '[]',  # ids, acks
    '2[]', '2[1,"x"]', '2{"x":1}', '2"x"', "2null", '3[]',  # events and acks of the wrong shape
    '50-["x"]', '5' + "9" * 9 + '-["x"]', '5' + "9" * 11 + '-["x"]', '6-1["x"]',  # attachment counts
]
# A binary event announcing attachments, then what follows it (each pair is invalid:
# a text frame where an attachment is due, placeholders that do not resolve, or an event
# whose name is not a string once resolved).
BINARY_CASES = [
    ('51-["x",{"_placeholder":true,"num":0}]', [("text", "4attachment as text")]),
    ('52-["x",{"_placeholder":true,"num":7}]', [("binary", b"\x00\x01"), ("binary", b"\x02")]),
    ('51-["x",{"_placeholder":true,"num":7}]', [("binary", b"\x00\x01garbage")]),
    ('51-["x",{"_placeholder":true,"num":"a"}]', [("binary", b"")]),
    ('51-[{"_placeholder":true,"num":0}]', [("binary", b"\xff" * 40)]),
]


def ws_frame(data: str | bytes, binary: bool = False) -> bytes:
    payload = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    n = len(payload)
    head = bytes([0x82 if binary else 0x81])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + b"\0\0\0\0" + payload  # a zero masking key: the payload goes as is


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readexactly(2)
    n = head[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return head[0] & 0x0F, await reader.readexactly(n)


class Fuzzer:
    def __init__(self, port: int, token: str, seed: int) -> None:
        self.port = port
        self.token = token
        self.random = random.Random(seed)
        self.sent = 0  # malformed packets: one per session (the protocol error that closes it)
        self.sessions = {"websocket": 0, "polling": 0}
        self.authenticated = 0
        self.closed_by_server = 0

    def bad_packets(self) -> list[tuple[str, str | bytes]]:
        """The frames of one protocol error (kind, data): the last one is the malformed
        packet; those before it are valid on their own (a binary event's header, a CONNECT
        to a namespace that does not exist)."""
        self.sent += 1
        r = self.random.random()
        if r < 0.2:
            return [("eio", self.random.choice(ENGINEIO_BAD))]
        if r < 0.3:
            size = self.random.choice([1, 7, 100, 3000])
            return [("binary", self.random.randbytes(size))]
        if r < 0.42:
            head, tails = self.random.choice(BINARY_CASES)
            return [("eio", "4" + head), *tails]
        if r < 0.45:  # connect to a namespace that does not exist (CONNECT_ERROR), then use it
            return [("eio", '40/nowhere,{}'), ("eio", '42/nowhere,["x"]')]
        if r < 0.46:  # over the size limit
            return [("eio", "4" + "2" * 70_000)]
        return [("eio", "4" + self.random.choice(SOCKETIO_BAD))]

    # -- websocket ---------------------------------------------------------------------------
    async def websocket(self, authenticated: bool) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                          "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                         .encode())
            await reader.readuntil(b"\r\n\r\n")
            opcode, data = await read_frame(reader)
            assert data.startswith(b"0{"), data
            if authenticated:
                writer.write(ws_frame("40" + json.dumps({"token": self.token})))
                opcode, data = await read_frame(reader)
                assert data.startswith(b'40{"sid"'), data
                if self.random.random() < 0.3:  # or a second CONNECT on the connected namespace
                    writer.write(ws_frame("40" + json.dumps({"token": self.token})))
                    self.sent += 1
                    await self._await_close(reader, "second CONNECT")
                    return
            packets = self.bad_packets()
            for kind, data in packets:
                writer.write(ws_frame(data, binary=kind == "binary"))
            await self._await_close(reader, (authenticated, packets))
        finally:
            writer.close()

    async def _await_close(self, reader: asyncio.StreamReader, case: object) -> None:
        try:
            async with asyncio.timeout(10):
                while True:
                    opcode, _ = await read_frame(reader)
                    if opcode == 8:
                        break
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass  # closed (a reset when our unread frames were still arriving)
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open after {case!r:.300}") from None
        self.closed_by_server += 1

    # -- long-polling ------------------------------------------------------------------------
    async def polling(self, sessions: int, authenticated_every: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        host = f"127.0.0.1:{self.port}"

        async def request(method: str, query: str, body: bytes = b"") -> tuple[int, bytes]:
            writer.write(f"{method} /socket.io/?EIO=4&transport=polling{query} HTTP/1.1\r\nHost: {host}\r\n"
                         f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if b"chunked" in head.lower():
                data = b""
                while True:
                    size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                    chunk = await reader.readexactly(size + 2)
                    if not size:
                        break
                    data += chunk[:-2]
            else:
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                data = await reader.readexactly(length)
            return status, data

        try:
            for n in range(sessions):
                status, data = await request("GET", "")
                assert status == 200 and data.startswith(b"0{"), (status, data)
                sid = json.loads(data[1:])["sid"]
                if n % authenticated_every == 0:
                    self.authenticated += 1
                    connect = ("40" + json.dumps({"token": self.token})).encode()
                    status, _ = await request("POST", f"&sid={sid}", connect)
                    status, data = await request("GET", f"&sid={sid}")
                    assert data.startswith(b'40{"sid"'), data
                packets = self.bad_packets()
                if packets[0][0] == "eio" and self.random.random() < 0.15:
                    # a body that is not a payload: bad UTF-8, JSONP garbage, too many packets
                    body = self.random.choice([b"\xff\xfe\x00", b"d=", b"d=%ZZ", b"\x1e".join([b"3"] * 17)])
                else:
                    body = "\x1e".join(d if k != "binary" else "b" + base64.b64encode(d).decode()
                                       for k, d in packets).encode("utf-8", "surrogatepass")
                    body = body or b"\x1e"  # an empty body is no packet at all; two empty ones are bad
                status, _ = await request("POST", f"&sid={sid}", body)
                assert status in (200, 400, 413), status
                if status == 200:
                    # Closed by Socket.IO's check: the next poll answers CLOSE.
                    status, data = await request("GET", f"&sid={sid}")
                    assert status == 400 or data.split(b"\x1e")[-1] == b"1", (status, data, body[:300])
                self.closed_by_server += 1
                self.sessions["polling"] += 1
        finally:
            writer.close()

    async def websockets(self, sessions: int, authenticated_every: int) -> None:
        for n in range(sessions):
            authenticated = n % authenticated_every == 0
            self.authenticated += authenticated
            await self.websocket(authenticated)
            self.sessions["websocket"] += 1


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def target(live, tmp_path):
    """A daphne of its own on the live stack's database, its access log in its own file."""
    env = {**live.env, "SOCKETIO_CLIENT_ERROR_LOG_LINES": str(LOG_LINES),
           "SOCKETIO_CLIENT_ERROR_LOG_SECONDS": str(LOG_SECONDS)}
    server = Server(env=env, port=free_port(), log=tmp_path / "daphne.log",
                    args=["--access-log", str(tmp_path / "access.log")]).start()
    yield server
    server.stop()


async def test_fuzzed_server_stays_up_quiet_and_small(target, tmp_path):
    token = login(target.url, "bob@demo.fr")["access"]
    admin = login(target.url, "admin@demo.fr")["access"]
    # Warm up (first connections allocate caches), then take the baseline.
    warm = Fuzzer(target.port, token, seed=1)
    await asyncio.gather(warm.websockets(100, 5), warm.polling(100, 5))
    await asyncio.sleep(0.5)
    log_before = target.log.stat().st_size
    rss_before = rss_kib(target.proc.pid)

    fuzzer = Fuzzer(target.port, token, seed=20260)
    per_worker = -(-SESSIONS_PER_TRANSPORT // CONCURRENCY)  # per half and worker (12 per transport)
    rss = [rss_before]
    started = time.monotonic()
    for _ in range(2):  # two halves: the memory curve must flatten, not climb with the packets
        await asyncio.gather(
            *(fuzzer.websockets(per_worker, AUTHENTICATED_EVERY) for _ in range(CONCURRENCY // 2)),
            *(fuzzer.polling(per_worker, AUTHENTICATED_EVERY) for _ in range(CONCURRENCY // 2)),
        )
        await asyncio.sleep(1.5)  # the server's memory watch looks once a second
        rss.append(rss_kib(target.proc.pid))
    elapsed = time.monotonic() - started

    assert target.proc.poll() is None, "the server died"
    # An honest client connects and gets an event.
    client = Recorder("honest", ["websocket"])
    polling = Recorder("honest-polling", ["polling"])
    try:
        await client.connect(target.url, token)
        await polling.connect(target.url, token)
        status, event = http("POST", f"{target.url}/api/notifications/broadcast/",
                             {"message": "après le fuzz"}, token=admin)
        assert status == 201, event
        for c in (client, polling):
            await c.wait_for("notification:general", lambda p: p["eventId"] == event["id"])
    finally:
        await client.close()
        await polling.close()
    await asyncio.sleep(LOG_SECONDS + 0.5)  # the last interval's summary

    assert sum(fuzzer.sessions.values()) == fuzzer.closed_by_server  # each closed by the server
    log_growth = target.log.stat().st_size - log_before
    new_log = target.log.read_bytes()[log_before:].decode(errors="replace")
    access = (tmp_path / "access.log").stat().st_size
    sessions = sum(fuzzer.sessions.values())
    print(f"\n[fuzz] {fuzzer.sent} malformed packets in {sessions} sessions "
          f"({fuzzer.sessions}; {fuzzer.authenticated} authenticated) in {elapsed:.1f} s; "
          f"log +{log_growth} B ({new_log.count(chr(10))} lines), access log {access} B "
          f"({access / sessions:.0f} B per session); RSS {rss[0]} -> {rss[1]} -> {rss[2]} KiB "
          f"(+{rss[2] - rss[0]} KiB; second half +{rss[2] - rss[1]} KiB)")

    assert fuzzer.sent >= 20_000
    assert "Traceback" not in new_log, new_log[:3000]
    # One line per error, at most LOG_LINES per interval, then one summary per interval:
    # the log grows with time, not with the number of packets.
    intervals = (time.monotonic() - started) / LOG_SECONDS + 2
    lines = [line for line in new_log.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("socket client error: ")]
    summaries = [line for line in lines if line.startswith("socket client errors: ")]
    assert errors and summaries, lines[:20]
    assert len(errors) <= intervals * LOG_LINES, len(errors)
    assert len(lines) == len(errors) + len(summaries), [x for x in lines if x not in errors + summaries][:10]
    assert log_growth < intervals * (LOG_LINES + 1) * LINE_BYTES, log_growth
    # Every error is counted: logged, or in a summary (oversize frames and invalid UTF-8 are
    # refused silently by engine.io and autobahn).
    assert sum(int(x.split()[3]) for x in summaries) + len(errors) >= fuzzer.sent * 0.9
    assert rss[2] - rss[0] < RSS_BOUND_KIB
    assert rss[2] - rss[1] < RSS_HALF_BOUND_KIB



@pytest.fixture(scope="module", params=["lean", "stock"])
def each_socket_kind(request, live, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp(f"kind-{request.param}")
    env = dict(live.env)
    if request.param == "stock":
        env.update(ENGINEIO_LEAN_SOCKETS="0", DAPHNE_SLIM_QUEUES="0")
    server = Server(env=env, port=free_port(), log=tmp_path / "daphne.log",
                    args=["--access-log", str(tmp_path / "access.log")]).start()
    yield server
    server.stop()


@pytest.mark.parametrize("packet", ['42["join-room"', "4x", "9", '43["x"]', '450-["x"]', "b!"])
async def test_an_invalid_packet_closes_its_connection_at_once(each_socket_kind, packet):
    """As engine.io and socket.io do (the lean sockets used to log and keep reading until
    the ping timeout, 45 s); the same on python-engineio's own sockets."""
    server = each_socket_kind
    token = login(server.url, "alice@demo.fr")["access"]
    fuzzer = Fuzzer(server.port, token, seed=0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        await reader.readuntil(b"\r\n\r\n")
        assert (await read_frame(reader))[1].startswith(b"0{")
        writer.write(ws_frame("40" + json.dumps({"token": token})))
        assert (await read_frame(reader))[1].startswith(b'40{"sid"')
        started = time.monotonic()
        writer.write(ws_frame(packet))
        await fuzzer._await_close(reader, packet)
        assert time.monotonic() - started < 5
    finally:
        writer.close()
    # Over long-polling too: the session is gone after the bad POST.
    fuzzer.bad_packets = lambda: [("eio", packet)]
    await fuzzer.polling(1, authenticated_every=1)
    assert fuzzer.closed_by_server == 2
    log = server.log.read_text()
    assert "Traceback" not in log and "socket client error" in log, log[-2000:]
