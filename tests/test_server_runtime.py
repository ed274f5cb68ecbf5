"""The serving process's runtime choices: one thread hop per request, kept request threads,
scheduled full garbage collections and SQLite checkpoints off the request path
(serving/handlers.py, serving/gc_policy.py, serving/sqlite_wal.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from asgiref.testing import ApplicationCommunicator

from serving.handlers import OneHopASGIHandler, RequestThreads, hashes_password

ROOT = Path(__file__).resolve().parent.parent


def scope(path: str) -> dict:
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": [(b"host", b"testserver"), (b"accept", b"application/json")],
            "client": ("127.0.0.1", 1), "server": ("testserver", 80)}


async def get(handler: OneHopASGIHandler, path: str) -> tuple[int, dict]:
    app = ApplicationCommunicator(handler, scope(path))
    await app.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await app.receive_output(10)
    body = await app.receive_output(10)
    await app.wait(10)
    return start["status"], json.loads(body["body"])


async def test_the_middleware_chain_is_synchronous_and_answers_json():
    handler = OneHopASGIHandler()
    assert not asyncio.iscoroutinefunction(handler._middleware_chain)
    status, body = await get(handler, "/api/nothing-here/")
    assert status == 404
    assert body == {"code": "not_found", "message": "Ressource introuvable"}


async def test_request_threads_are_kept_and_reused():
    handler = OneHopASGIHandler(threads=2)
    await get(handler, "/api/nothing-here/")
    (executor,) = handler.threads._idle
    threads = set(executor._threads)
    await get(handler, "/api/nothing-here/")
    assert handler.threads._idle == [executor]
    assert set(executor._threads) == threads and len(threads) == 1


async def test_a_burst_waits_for_the_bounded_threads_and_every_request_is_answered():
    handler = OneHopASGIHandler(threads=2)
    peak = 0
    real = handler.get_response

    def watched(request):
        nonlocal peak
        peak = max(peak, handler.threads.busy)
        return real(request)

    handler.get_response = watched
    results = await asyncio.gather(*(get(handler, f"/api/nothing-{i}/") for i in range(20)))
    assert [status for status, _ in results] == [404] * 20
    assert handler.threads.started == 2 and peak == 2
    assert len(handler.threads._idle) == 2 and handler.threads.busy == 0


def test_only_password_hashing_posts_take_the_auth_lane():
    def req(method: str, path: str) -> dict:
        return {**scope(path), "method": method}

    assert hashes_password(req("POST", "/api/auth/token/"))
    assert hashes_password(req("POST", "/api/auth/register/"))
    assert hashes_password(req("POST", "/api/auth/password/reset/"))
    assert not hashes_password(req("OPTIONS", "/api/auth/token/"))
    assert not hashes_password(req("POST", "/api/auth/token/refresh/"))
    assert not hashes_password(req("POST", "/api/auth/logout/"))
    assert not hashes_password(req("POST", "/api/rendezvous/"))


async def test_the_auth_lane_leaves_the_other_threads_to_ordinary_requests():
    threads = RequestThreads(3, auth_size=1)
    async with contextlib.AsyncExitStack() as held:
        await held.enter_async_context(threads.thread(auth=True))
        second_login = asyncio.ensure_future(held.enter_async_context(threads.thread(auth=True)))
        await asyncio.sleep(0.05)
        assert not second_login.done()  # one hashing request at a time
        # ...while ordinary requests still get the two other threads at once
        await asyncio.wait_for(held.enter_async_context(threads.thread()), 1)
        await asyncio.wait_for(held.enter_async_context(threads.thread()), 1)
        third = asyncio.ensure_future(held.enter_async_context(threads.thread()))
        await asyncio.sleep(0.05)
        assert not third.done() and threads.busy == 3 and threads.started == 3
        third.cancel()
        second_login.cancel()
        await asyncio.gather(third, second_login, return_exceptions=True)
    assert threads.busy == 0 and len(threads._idle) == 3
    # a cancelled waiter (a client gone while queued) gave its turn back
    async with threads.thread(auth=True), threads.thread(), threads.thread():
        assert threads.busy == 3 and threads.started == 3


GC_SCRIPT = """
import asyncio, gc, json, sys
from serving import gc_policy

collections = []
gc.callbacks.append(lambda phase, info: collections.append(info["generation"]) if phase == "stop" else None)
interval = float(sys.argv[1])

async def main():
    installed = gc_policy.install(interval)
    again = gc_policy.install(interval)
    frozen, threshold = gc.get_freeze_count(), gc.get_threshold()
    collections.clear()
    for _ in range(300_000):  # young garbage with cycles: many young collections
        cycle = []
        cycle.append(cycle)
    automatic_full = collections.count(2)
    young = collections.count(0) + collections.count(1)
    await asyncio.sleep(max(0.5, interval * 2.5))
    print(json.dumps({"installed": installed, "again": again, "frozen": frozen,
                      "threshold": threshold, "automatic_full": automatic_full, "young": young,
                      "scheduled_full": collections.count(2) - automatic_full}))

asyncio.run(main())
"""


def run_gc_script(interval: str) -> dict:
    out = subprocess.run([sys.executable, "-c", GC_SCRIPT, interval], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.e2e
def test_gc_policy_freezes_start_up_and_runs_full_collections_on_its_schedule():
    result = run_gc_script("0.2")
    assert result["installed"] is True and result["again"] is False
    assert result["frozen"] > 1000  # the start-up heap
    assert result["threshold"][2] == 2**31 - 1
    assert result["young"] > 0 and result["automatic_full"] == 0
    assert result["scheduled_full"] >= 2


RSS_SCRIPT = """
import asyncio, gc, json, os
from serving import gc_policy

def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

full = []
gc.callbacks.append(lambda phase, info: full.append(1) if phase == "stop" and info["generation"] == 2 else None)

async def main():
    gc_policy.install(300, growth_blocks=200_000)
    before = rss_bytes()
    for _ in range(6):  # ~200 MB of garbage in old reference cycles, as closed connections leave
        batch = []
        for _ in range(100_000):
            cycle = [bytearray(300)]
            cycle.append(cycle)
            batch.append(cycle)
        gc.collect(1)  # they outlive the young generations (a connection lives a while)...
        del batch, cycle  # ...then die
        await asyncio.sleep(1.2)  # the watch looks once a second
    print(json.dumps({"full": len(full), "growth": rss_bytes() - before}))

asyncio.run(main())
"""


@pytest.mark.e2e
def test_gc_policy_collects_early_when_memory_grows():
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["full"] >= 3, result  # install's, then the growth's (the 300 s timer never fires)
    assert result["growth"] < 100 * 2**20, result  # not the ~200 MB left uncollected


def test_gc_policy_growth_step_is_a_quarter_of_a_large_heap(monkeypatch):
    """A heap growing by live objects (a reconnect storm: 10,000 sockets, ~10 million
    blocks) is walked a number of times that grows with its logarithm, not its size."""
    import gc

    from serving import gc_policy

    blocks = [1_000_000]
    monkeypatch.setattr(gc_policy.sys, "getallocatedblocks", lambda: blocks[0])
    monkeypatch.setattr(gc, "collect", lambda generation=2: 0)
    loop = asyncio.new_event_loop()
    try:
        schedule = gc_policy._Schedule(loop, 300, 500_000)
        assert schedule.step() == 500_000  # a small heap: the fixed step
        walked = []
        while blocks[0] < 11_000_000:  # the sockets come back, 100,000 blocks a second
            blocks[0] += 100_000
            before = schedule.baseline
            schedule.watch()
            if schedule.baseline != before:
                walked.append(blocks[0])
        assert schedule.step() == int(schedule.baseline * 0.25) > 2_000_000
        # a fixed 500,000-block step walked the heap 20 times, 125 million blocks in all
        assert len(walked) <= 9 and sum(walked) < 50_000_000, walked
    finally:
        schedule.timer.cancel()
        loop.close()


@pytest.mark.e2e
def test_gc_policy_zero_keeps_cpythons_own():
    result = run_gc_script("0")
    assert result["installed"] is False
    assert result["frozen"] == 0
    assert result["threshold"][2] == 10
    assert result["scheduled_full"] == 0


# ---- SQLite WAL checkpoints off the request path --------------------------------------


def test_checkpoint_copies_the_wal_into_the_database(tmp_path):
    import sqlite3

    from serving.sqlite_wal import checkpoint

    db = sqlite3.connect(tmp_path / "wal.sqlite3")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("CREATE TABLE t (x TEXT)")
    with db:
        db.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 2000)
    busy, frames, done = checkpoint(sqlite3.connect(tmp_path / "wal.sqlite3"))
    assert (busy, done) == (0, frames) and frames > 100
    assert db.execute("SELECT count(*) FROM t").fetchone() == (2000,)


def test_server_connections_leave_checkpoints_to_the_checkpointer(db):
    from django.db import connection

    from serving.sqlite_wal import no_autocheckpoint

    if connection.vendor != "sqlite":
        return  # PostgreSQL: nothing to do, and nothing done
    with connection.cursor() as cursor:
        before = cursor.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        try:
            no_autocheckpoint(sender=None, connection=connection)
            assert cursor.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        finally:
            cursor.execute(f"PRAGMA wal_autocheckpoint={before}")


SQLITE_START = """
import asyncio, django, os
django.setup()
from serving import sqlite_wal
async def main():
    print(sqlite_wal.start(0), sqlite_wal.start(1), sqlite_wal.start(1))
asyncio.run(main())
"""


@pytest.mark.e2e
def test_the_checkpointer_starts_once_on_sqlite_files(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "medical_booking.settings",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "REDIS_URL": ""}
    out = subprocess.run([sys.executable, "-c", SQLITE_START], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "False"]


# ---- the socket server's database calls on the request threads (serving.on_request_thread) --


async def test_socket_database_calls_run_side_by_side_on_the_request_threads(monkeypatch):
    """A connect's token check and replay used asgiref's one shared sync thread: a storm
    of reconnects ran them one at a time. On the request threads they overlap, within the
    same bound (and so the same database connections) as the HTTP requests."""
    import threading

    import serving

    threads = RequestThreads(2)
    monkeypatch.setattr(serving, "_request_threads", threads)
    both_in = threading.Barrier(2, timeout=5)
    names = []

    def work(value):
        names.append((threading.current_thread().name, threading.get_ident()))
        both_in.wait()  # returns only once two calls run at the same time
        return value * 2

    assert await asyncio.gather(serving.on_request_thread(work, 1), serving.on_request_thread(work, 2)) == [2, 4]
    assert all(name.startswith("django-request") for name, _ in names) and len(set(names)) == 2
    assert threads.started == 2 and threads.busy == 0 and len(threads._idle) == 2
    # a third call waits for a free thread (FIFO with the HTTP requests), then runs
    async with threads.thread(), threads.thread():
        third = asyncio.ensure_future(serving.on_request_thread(lambda: "done"))
        await asyncio.sleep(0.05)
        assert not third.done()
    assert await asyncio.wait_for(third, 5) == "done"


async def test_without_the_one_hop_handler_socket_database_calls_keep_asgirefs_thread(monkeypatch):
    import threading

    import serving

    monkeypatch.setattr(serving, "_request_threads", None)
    name = await serving.on_request_thread(lambda: threading.current_thread().name)
    assert not name.startswith("django-request")


def test_a_connection_that_failed_outside_a_request_is_checked_and_closed(monkeypatch):
    """No request_finished signal closes a broken connection after socket work: the
    thread's next call would reuse it and fail again (a restarted database)."""
    from serving import handlers

    class Conn:
        def __init__(self, errors: bool) -> None:
            self.errors_occurred, self.checked = errors, 0

        def close_if_unusable_or_obsolete(self) -> None:
            self.checked += 1

    broken, fine = Conn(True), Conn(False)
    every = type("Connections", (), {"all": lambda self, initialized_only: [broken, fine]})
    monkeypatch.setattr(handlers, "connections", every())

    def fails():
        raise RuntimeError("server closed the connection unexpectedly")

    with pytest.raises(RuntimeError):
        handlers.run_keeping_connection(fails)
    assert broken.checked == 1 and fine.checked == 0  # no health-check round trip for a sound one
    assert handlers.run_keeping_connection(lambda x: x + 1, 1) == 2 and broken.checked == 2


# ---- the listen backlog (serving/listen_backlog.py) -------------------------------------------


def accept_queue(port: int) -> int | None:
    """The backlog of the socket listening on ``port``, as ``ss`` reports it (Send-Q)."""
    import shutil

    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) is not installed")
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, timeout=10).stdout
    fields = out.split()
    return int(fields[2]) if len(fields) >= 3 else None


def somaxconn() -> int:
    return int(Path("/proc/sys/net/core/somaxconn").read_text())


@pytest.mark.e2e
def test_widen_gives_each_listening_port_the_backlog_asked_and_no_less():
    import socket

    from serving import listen_backlog

    class Port:
        def __init__(self, backlog: int) -> None:
            self.socket = socket.socket()
            self.socket.bind(("127.0.0.1", 0))
            self.socket.listen(backlog)
            self.backlog = backlog
            self.number = self.socket.getsockname()[1]

    small, large = Port(50), Port(8192)
    try:
        assert accept_queue(small.number) == 50
        gone = type("Closed", (), {"socket": None, "backlog": 50})()
        assert listen_backlog.widen([small, large, gone], 4096) == 1  # never narrows, skips a closed one
        assert small.backlog == 4096 and large.backlog == 8192
        assert accept_queue(small.number) == min(4096, somaxconn())
        assert listen_backlog.install(0) == 0  # 0: Twisted's backlog is kept
    finally:
        small.socket.close()
        large.socket.close()


def test_the_serving_daphne_listens_with_room_for_a_reconnect_storm(live):
    """Twisted's listenTCP backlog is 50: a storm of reconnects overflowed it and waited for
    TCP retransmissions (bench/storm.py)."""
    assert accept_queue(live.servers[0].port) == min(4096, somaxconn())


async def test_the_real_time_start_runs_once_not_per_connection(monkeypatch):
    """``on_start`` looks at every socket the reactor watches (the listen backlog): run per
    connection, a reconnect storm of N sockets cost N x N steps (bench/storm.py profile)."""
    from realtime import asgi

    calls: list[str] = []
    for name in ("ensure_started", "start_reminders", "start_generation", "start_retenues"):
        monkeypatch.setattr(asgi, name, lambda name=name: calls.append(name))
    failures = [RuntimeError("bus not reachable yet")]

    def on_start() -> None:
        calls.append("on_start")
        if failures:
            raise failures.pop()

    async def django_app(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    application = asgi.build_application(django_app, on_start=on_start)

    async def request() -> int:
        app = ApplicationCommunicator(application, scope("/api/ping"))
        await app.send_input({"type": "http.request", "body": b"", "more_body": False})
        start = await app.receive_output(10)
        await app.receive_output(10)
        await app.wait(10)
        return start["status"]

    with pytest.raises(RuntimeError, match="bus not reachable yet"):
        await request()  # a start that failed...
    assert await request() == 204  # ...is tried again by the next request
    for _ in range(3):
        assert await request() == 204
    assert calls.count("on_start") == 2 and calls.count("ensure_started") == 2
    assert calls.count("start_retenues") == 2
