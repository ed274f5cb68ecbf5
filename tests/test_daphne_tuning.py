"""serving/daphne_tuning.py with real sockets and real processes, no mocks.

The eager-write tests run tests/twisted_write_server.py (a Twisted TCP server on the
asyncio reactor daphne installs) once with the patch (EAGER=1) and once without
(EAGER=0): both must deliver the same bytes, complete and in order, through large
writes that overflow the kernel buffer, a reader that starts late, close and half-close
right after writing, a streaming producer, a type error and a peer that reset the
connection. The gate tests import the real ASGI module under daphne's reactor with
DAPHNE_EAGER_WRITES=0/1. The rest of the suite (tests/test_realtime_*.py, Node client)
runs real daphne processes, so it goes through the patched paths too.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from devtools.net import free_port

ROOT = Path(__file__).resolve().parent.parent
SERVER = Path(__file__).resolve().parent / "twisted_write_server.py"
CHUNK = 65536

pytestmark = pytest.mark.e2e  # every test here runs a server or a gate in a process of its own


def chunk(i: int, size: int = CHUNK) -> bytes:
    return i.to_bytes(4, "big") * (size // 4)


class WriteServer:
    def __init__(self, tmp: Path, eager: bool):
        self.eager = eager
        portfile = tmp / "port"
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVER), str(portfile)], cwd=ROOT,
            env={**os.environ, "EAGER": "1" if eager else "0", "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 30
        while not portfile.exists():
            assert self.proc.poll() is None, "\n".join(self.lines)
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        self.port = int(portfile.read_text())

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def facts(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in list(self.lines):
            for item in line.split():
                if "=" in item:
                    k, v = item.split("=", 1)
                    out[k] = v
        return out

    def wait_for(self, key: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            facts = self.facts()
            if key in facts:
                return facts[key]
            time.sleep(0.02)
        raise AssertionError(f"server never reported {key!r}; output:\n" + "\n".join(self.lines))

    def connect(self, command: str) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        s.sendall(command.encode() + b"\n")
        return s

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture(params=[True, False], ids=["eager", "twisted"])
def server(request, tmp_path):
    srv = WriteServer(tmp_path, request.param)
    yield srv
    srv.close()
    assert "Traceback" not in "\n".join(srv.lines), "\n".join(srv.lines)
    assert "Unhandled" not in "\n".join(srv.lines), "\n".join(srv.lines)


def read_exactly(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        data = s.recv(min(1 << 20, n - len(buf)))
        assert data, f"EOF after {len(buf)} of {n} bytes"
        buf += data
    return bytes(buf)


def read_to_eof(s: socket.socket) -> bytes:
    buf = bytearray()
    while data := s.recv(1 << 20):
        buf += data
    return bytes(buf)


def expected(n: int, size: int = CHUNK) -> bytes:
    return b"".join(chunk(i, size) for i in range(n))


def assert_same(got: bytes, want: bytes) -> None:
    assert len(got) == len(want)
    if got != want:  # name the first chunk out of place rather than dump megabytes
        first = next(i for i in range(0, len(want), CHUNK) if got[i:i + CHUNK] != want[i:i + CHUNK])
        pytest.fail(f"byte stream differs from chunk {first // CHUNK} on")


def test_large_writes_arrive_complete_in_order_then_close(server):
    n = 400  # 26 MB, far over the kernel's send + receive buffers on loopback
    with server.connect(f"bulk {n} {CHUNK} close") as s:
        # Read only once every write() returned: a reader draining meanwhile on the other
        # core could let the kernel take it all, and nothing would be left to queue.
        queued = int(server.wait_for("queued_after_writes"))
        got = read_to_eof(s)
    assert_same(got, expected(n))
    assert server.wait_for("patched") == ("1" if server.eager else "0")
    # With the patch the first frame goes to the kernel inside write(); without it,
    # Twisted queues it for a later loop turn.
    assert server.wait_for("first_sent_at_once") == ("1" if server.eager else "0")
    assert queued > 0  # the rest had to wait
    assert server.wait_for("lost") == "ConnectionDone"


def test_slow_reader_gets_everything_when_it_starts_reading(server):
    n = 200
    with server.connect(f"bulk {n} {CHUNK} keep") as s:
        assert int(server.wait_for("queued_after_writes")) > 0  # kernel buffer is full
        time.sleep(1.0)  # the server's loop keeps running; nothing is read meanwhile
        got = read_exactly(s, n * CHUNK)
        assert_same(got, expected(n))
        s.settimeout(0.3)
        with pytest.raises(socket.timeout):
            s.recv(1)  # nothing extra, nothing twice


@pytest.mark.parametrize("n,size", [(1, 10), (3, 1000), (2, 3 * CHUNK)])
def test_close_right_after_small_writes_delivers_them(server, n, size):
    with server.connect(f"bulk {n} {size} close") as s:
        got = read_to_eof(s)
    assert got == expected(n, size)
    assert server.wait_for("lost") == "ConnectionDone"


def test_half_close_after_writes(server):
    n = 50
    with server.connect(f"bulk {n} {CHUNK} half") as s:
        got = read_to_eof(s)  # EOF only after every byte written before loseWriteConnection
        assert_same(got, expected(n))
        assert server.wait_for("write_closed") == "1"
        s.sendall(b"x" * 1000)  # our direction is still open
        s.shutdown(socket.SHUT_WR)
        assert read_to_eof(s) == b""
    assert server.wait_for("echoed") == "1000"
    assert server.wait_for("lost") == "ConnectionDone"


def test_streaming_producer_is_paused_and_resumed(server):
    total = 256 * CHUNK  # 16 MB through a producer writing until it is paused
    with server.connect(f"producer {total}") as s:
        time.sleep(0.5)  # let the buffer fill: the producer must get paused
        got = read_to_eof(s)
    assert_same(got, expected(256))
    assert server.wait_for("producer_done") == "1"
    facts = server.facts()
    assert int(facts["pauses"]) >= 1 and int(facts["resumes"]) >= 1


def test_write_of_str_still_raises_type_error(server):
    with server.connect("typecheck") as s:
        assert read_to_eof(s) == b"TypeError\n"


def test_write_to_a_reset_connection_reports_it_lost(server):
    a = server.connect("hold")
    assert read_exactly(a, 5) == b"held\n"
    a.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    a.close()  # RST; the server is not reading this socket, so only a write sees it
    time.sleep(0.3)
    with server.connect("poke") as b:
        assert read_to_eof(b) == b"poked\n"
    assert server.wait_for("poke_returned") == "1"  # write() itself did not raise
    if server.eager:
        # send() failed inside write(): the bytes were queued for doWrite, which met
        # the error on the next loop turn and reported the connection lost.
        assert server.wait_for("poke_queued") == str(CHUNK)
    deadline = time.monotonic() + 20
    while not any(line.endswith("mode=hold") for line in server.lines):
        assert time.monotonic() < deadline, "\n".join(server.lines)
        time.sleep(0.02)
    assert "lost=ConnectionLost mode=hold" in server.lines


# ---- the gate: serving.install (from medical_booking/asgi.py) installs them only under daphne, per setting

GATE = """
import sys
if sys.argv[1] == "daphne":
    import daphne.cli  # what `python -m daphne` imports before the application
import medical_booking.asgi  # noqa: F401
from twisted.internet import tcp
from daphne.http_protocol import WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
from serving import daphne_tuning
print(",".join(sorted(daphne_tuning.installed())) or "-")
print(int(tcp.Server.__dict__.get("write") is daphne_tuning._eager_write),
      int(WebSocketProtocol.__dict__.get("sendData") is daphne_tuning._fast_send_data),
      int(Server.application_checker is daphne_tuning._lean_application_checker),
      int(Server.create_application is daphne_tuning._create_application),
      int(WebRequest.process is daphne_tuning._process_then_release),
      int(isinstance(__import__("autobahn.websocket.protocol").websocket.protocol.pformat([1]),
                     daphne_tuning.LogArgument)))
"""


def gate(tmp_path, mode: str, **env) -> list[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("DAPHNE_")}
    full.update({"DJANGO_SETTINGS_MODULE": "medical_booking.settings", "REDIS_URL": "",
                 "DATABASE_URL": f"sqlite:///{tmp_path / 'gate.sqlite3'}",
                 "REMINDERS_IN_SERVER": "0", **env})
    out = subprocess.run([sys.executable, "-c", GATE, mode], cwd=ROOT, env=full,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split("\n")


def test_installed_under_daphne_by_default(tmp_path):
    names, flags, _ = gate(tmp_path, "daphne")
    assert names == "eager_writes,fast_ws_send,lazy_log_args,lean_app_checker,release_upgrade_request,slim_queues"
    assert flags == "1 1 1 1 1 1"


def test_not_installed_with_daphne_eager_writes_0(tmp_path):
    names, flags, _ = gate(tmp_path, "daphne", DAPHNE_EAGER_WRITES="0")
    assert names == "fast_ws_send,lazy_log_args,lean_app_checker,release_upgrade_request,slim_queues"
    assert flags == "0 1 1 1 1 1"


def test_each_patch_opts_out(tmp_path):
    names, flags, _ = gate(tmp_path, "daphne", DAPHNE_EAGER_WRITES="0",
                           DAPHNE_FAST_WS_SEND="false", DAPHNE_LEAN_APP_CHECKER="no",
                           DAPHNE_SLIM_QUEUES="off", DAPHNE_RELEASE_UPGRADE_REQUEST="0",
                           DAPHNE_LAZY_LOG_ARGS="0")
    assert names == "-"
    assert flags == "0 0 0 0 0 0"


def test_not_installed_outside_daphne(tmp_path):
    # daphne's AppConfig imports daphne.server (and the reactor) in every Django process;
    # that alone must not install anything.
    names, flags, _ = gate(tmp_path, "plain")
    assert names == "-"
    assert flags == "0 0 0 0 0 0"


# ---- DAPHNE_RELEASE_UPGRADE_REQUEST: a real daphne, real websockets ---------------------

@pytest.mark.parametrize("release", [True, False], ids=["release", "stock"])
async def test_the_upgrade_request_is_freed_and_websockets_still_work(tmp_path, release):
    import aiohttp

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
         "tests.daphne_upgrade_app:app"],
        cwd=ROOT, env={**os.environ, "RELEASE": "1" if release else "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "daphne did not start"
                time.sleep(0.1)
        big = "x" * 200_000  # more than a kernel buffer: the write path without a producer
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(f"ws://127.0.0.1:{port}/ws") for _ in range(20)]
            for ws in sockets:
                await ws.send_str(big)
            for ws in sockets:
                assert (await ws.receive(timeout=10)).data == big
            # daphne's once-a-second application_checker forgets the upgrade requests
            await asyncio.sleep(2.5)
            async with session.get(f"http://127.0.0.1:{port}/count") as resp:
                alive = int(await resp.text())
            # the GET's own channel is alive while it is answered
            assert (alive <= 1) if release else (alive >= 21), alive
            for ws in sockets:
                await ws.send_str("still here")
                assert (await ws.receive(timeout=10)).data == "still here"
                await ws.close()
    finally:
        proc.terminate()
        proc.wait(10)


# ---- autobahn's debug-line arguments (DAPHNE_LAZY_LOG_ARGS)

LAZY = """
import json, pprint, sys
import click
from autobahn.websocket import protocol
calls = {"pformat": 0, "style": 0}
def counted(name, fn):
    def wrapper(*args, **kwargs):
        calls[name] += 1
        return fn(*args, **kwargs)
    return wrapper
protocol.pformat = counted("pformat", pprint.pformat)
click.style = counted("style", click.style)
import daphne.cli  # noqa: F401  (what `python -m daphne` imports)
import medical_booking.asgi  # noqa: F401  (installs the serving patches)
from autobahn import util
from autobahn.twisted import websocket as tw
from twisted.internet.testing import StringTransport
from twisted.logger import formatEvent
from serving import daphne_tuning

factory = tw.WebSocketServerFactory("ws://127.0.0.1:9000")
factory.protocol = tw.WebSocketServerProtocol
proto = factory.buildProtocol(None)
transport = StringTransport()
proto.makeConnection(transport)
proto.dataReceived(b"GET /socket.io/ HTTP/1.1\\r\\nHost: 127.0.0.1:9000\\r\\nUpgrade: websocket\\r\\n"
                   b"Connection: Upgrade\\r\\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\n"
                   b"Sec-WebSocket-Version: 13\\r\\n\\r\\n")
handshake = transport.value().split(b"\\r\\n")[0].decode()
during = dict(calls)
arg = protocol.pformat([("openHandshakeTimeout", 5, "Factory")] * 3)
typed = tw.hltype(factory.buildProtocol)
print(json.dumps({
    "handshake": handshake, "calls_while_debug_off": during,
    "lazy": isinstance(arg, daphne_tuning.LogArgument),
    "same_text": formatEvent({"log_format": "\\n{attrs} {func} {val}", "attrs": arg, "func": typed,
                              "val": protocol.hlval(7)})
                 == "\\n" + pprint.pformat([("openHandshakeTimeout", 5, "Factory")] * 3) + " "
                    + util.hltype(factory.buildProtocol) + " " + util.hlval(7),
    "str": str(arg) == pprint.pformat([("openHandshakeTimeout", 5, "Factory")] * 3),
    "timings": str(protocol.Timings()) == pprint.pformat({}),
}))
"""


@pytest.mark.parametrize("lazy", ["1", "0"])
def test_autobahn_formats_no_debug_line_argument_while_debug_is_off(tmp_path, lazy):
    full = {k: v for k, v in os.environ.items() if not k.startswith("DAPHNE_")}
    full.update({"DJANGO_SETTINGS_MODULE": "medical_booking.settings", "REDIS_URL": "",
                 "DATABASE_URL": f"sqlite:///{tmp_path / 'lazy.sqlite3'}", "REMINDERS_IN_SERVER": "0",
                 "DAPHNE_LAZY_LOG_ARGS": lazy})
    out = subprocess.run([sys.executable, "-c", LAZY], cwd=ROOT, env=full, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["handshake"] == "HTTP/1.1 101 Switching Protocols"
    if lazy == "1":
        # a new websocket and its handshake: autobahn's debug arguments never formatted...
        assert result["calls_while_debug_off"] == {"pformat": 0, "style": 0}
        assert result["lazy"] is True
    else:
        # ...where autobahn as shipped pformats its options and colours type names
        assert result["calls_while_debug_off"]["pformat"] >= 1
        assert result["calls_while_debug_off"]["style"] >= 4
        assert result["lazy"] is False
    # the text of a debug line, once written, is autobahn's own either way
    assert result["same_text"] is True and result["str"] is True and result["timings"] is True

