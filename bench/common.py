"""Shared driver code for the benchmarks: processes, databases, /proc, tables.

Every process started here is in its own process group and is killed by id at exit
(normal, exception, SIGINT/SIGTERM). Only loopback addresses are used.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # scripts run as ``python bench/x.py``: the project root is not on the path

from devtools.net import free_port, http  # noqa: E402  (one copy, shared with tests/)

BENCH = ROOT / "bench"
NODE_DIR = BENCH / "node"
PY = str(ROOT / ".venv" / "bin" / "python")
NODE = shutil.which("node") or "node"
PG_URL = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

WORK = Path(tempfile.mkdtemp(prefix="mbbench-"))
_procs: list[subprocess.Popen] = []
_cleanups: list = []


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- limits and cleanup ----------------------------------------------------------------


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def kill(proc: subprocess.Popen, timeout: float = 5) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def cleanup() -> None:
    while _procs:
        kill(_procs.pop())
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as exc:  # best effort, keep going
            log(f"cleanup: {exc}")
    if not os.environ.get("BENCH_KEEP"):
        shutil.rmtree(WORK, ignore_errors=True)


def _on_signal(signum, frame):
    cleanup()
    sys.exit(128 + signum)


atexit.register(cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def start(
    cmd: list[str], name: str, env: dict | None = None, cwd: Path = ROOT, stdout=None, stdin=None
) -> subprocess.Popen:
    logf = open(WORK / f"{name}.log", "ab")
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=stdout or logf,
        stderr=logf,
        stdin=stdin,
        start_new_session=True,
    )
    proc.name = name
    _procs.append(proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    kill(proc)
    if proc in _procs:
        _procs.remove(proc)


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.returncode}); see {WORK}/{proc.name}.log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not listen on {port} in {timeout}s")


# ---- databases ---------------------------------------------------------------------------

BASE_ENV = {
    "REMINDERS_IN_SERVER": "0",
    "FAST_PASSWORD_HASHER": "1",
    "DEBUG": "0",
    "LOG_LEVEL": "WARNING",
    "PYTHONUNBUFFERED": "1",
    # Production mode (PostgreSQL + Redis) needs a real key: one per bench run.
    "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(64),
    # Benchmarks measure throughput: broadcasts back to back must not meet the throttles.
    "THROTTLE_BROADCAST": "1000000/min",
    "THROTTLE_LOGIN_IP": "1000000/min",
    "THROTTLE_LOGIN_EMAIL": "1000000/min",
    "THROTTLE_REGISTER": "1000000/min",
}


# Variants of the "project" server (embedded mode) with serving/daphne_tuning.py's
# patches switched off, to measure them back to back in one run: --servers
# project,project-noeager,project-untuned,...
PROJECT_VARIANTS = {
    "project": {},
    "project-noeager": {"DAPHNE_EAGER_WRITES": "0"},
    "project-untuned": {
        "DAPHNE_EAGER_WRITES": "0",
        "DAPHNE_FAST_WS_SEND": "0",
        "DAPHNE_LEAN_APP_CHECKER": "0",
        "DAPHNE_SLIM_QUEUES": "0",
    },
    # python-engineio's own sockets (a writer, reader and ping task per socket) and queues
    "project-stock": {"ENGINEIO_LEAN_SOCKETS": "0", "DAPHNE_SLIM_QUEUES": "0"},
    # CPython's own garbage-collection policy instead of serving/gc_policy.py's
    "project-cpython-gc": {"GC_FULL_INTERVAL_SECONDS": "0"},
    # no counters, histograms or /metrics (operations/metrics.py): their cost on a fan-out
    "project-nometrics": {"METRICS_ENABLED": "0"},
}
VARIANT_LABELS = {
    "project-noeager": "this project, DAPHNE_EAGER_WRITES=0",
    "project-untuned": "this project, DAPHNE_* tuning off",
    "project-stock": "this project, stock engine.io sockets",
    "project-cpython-gc": "this project, CPython's GC policy",
    "project-nometrics": "this project, METRICS_ENABLED=0",
}


def manage(env: dict, *args: str, timeout: float = 600) -> None:
    subprocess.run(
        [PY, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=timeout,
        stdout=subprocess.DEVNULL,
    )


def project_env(mode: str) -> dict:
    """A fresh database (and channel prefix) for one run: 'embedded' or 'redis'."""
    env = dict(BASE_ENV)
    env.pop("REDIS_URL", None)
    if mode == "embedded":
        path = WORK / f"bench-{secrets.token_hex(4)}.sqlite3"
        env["DATABASE_URL"] = f"sqlite:///{path}"
        env["REDIS_URL"] = ""
    elif mode == "redis":
        name = f"bench_{secrets.token_hex(4)}"
        subprocess.run(
            ["psql", f"{PG_URL}/postgres", "-qc", f"CREATE DATABASE {name}"],
            check=True,
            timeout=60,
            stdout=subprocess.DEVNULL,
        )

        def drop(name=name):
            subprocess.run(
                ["psql", f"{PG_URL}/postgres", "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
                timeout=60,
                stdout=subprocess.DEVNULL,
            )

        _cleanups.append(drop)
        env["DATABASE_URL"] = f"{PG_URL}/{name}"
        env["REDIS_URL"] = REDIS_URL
        env["CHANNEL_PREFIX"] = f"bench-{secrets.token_hex(4)}"
    else:
        raise ValueError(mode)
    return env


def prepare(env: dict, patients: int, slots: int = 0) -> dict:
    t = time.monotonic()
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo")
    out = WORK / f"tokens-{secrets.token_hex(3)}.json"
    subprocess.run(
        [PY, str(BENCH / "prep.py"), "--patients", str(patients), "--slots", str(slots), "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=900,
        stdout=subprocess.DEVNULL,
    )
    log(f"database ready in {time.monotonic() - t:.1f}s ({patients} patients, {slots} slots)")
    return json.loads(out.read_text())


# ---- servers ------------------------------------------------------------------------------


def start_daphne(env: dict, port: int | None = None, name: str = "daphne") -> tuple[subprocess.Popen, int]:
    port = port or free_port()
    proc = start(
        [PY, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "medical_booking.asgi:application"],
        name,
        env={**BASE_ENV, **env},
    )
    wait_port(port, proc)
    return proc, port


def start_pysio(port: int | None = None) -> tuple[subprocess.Popen, int]:
    port = port or free_port()
    proc = start([PY, str(BENCH / "peer_pysio.py"), str(port)], "pysio")
    wait_port(port, proc)
    return proc, port


def ensure_node() -> None:
    if not (NODE_DIR / "node_modules" / "socket.io").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True, timeout=300
        )


def start_node_server(port: int | None = None) -> tuple[subprocess.Popen, int]:
    ensure_node()
    port = port or free_port()
    proc = start([NODE, str(NODE_DIR / "server.mjs"), str(port)], "node-server", cwd=NODE_DIR)
    wait_port(port, proc)
    return proc, port


def start_nginx(upstreams: list[int]):
    """nginx with the deployed site (devtools/cluster.py's Nginx) in front of ``upstreams``."""
    from devtools.cluster import Nginx

    static = WORK / "static"
    static.mkdir(exist_ok=True)
    front = Nginx(port=free_port(), upstreams=upstreams, static_root=static).start()
    _cleanups.append(front.stop)
    return front


def nginx_pids(front) -> list[int]:
    """The nginx master and its workers (their CPU is the front's cost)."""
    pids = [front.proc.pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == front.proc.pid:
                pids.append(int(entry.name))
    return pids


def warm_project(port: int, token: str) -> None:
    """One REST call so Django's lazy imports and the first DB connection are done."""
    status, body = http("GET", f"http://127.0.0.1:{port}/api/me/", token=token, timeout=30)
    if status != 200:
        raise RuntimeError(f"warm-up GET /api/me/ answered {status}: {body}")


# ---- the load generator ----------------------------------------------------------------


class Load:
    """A Node load-generator process; JSON lines read on a thread."""

    def __init__(self, config: dict, name: str = "load", commands: bool = False) -> None:
        """``commands``: the process reads JSON-line commands on stdin (``send``)."""
        ensure_node()
        path = WORK / f"{name}-{secrets.token_hex(3)}.json"
        path.write_text(json.dumps(config))
        self.proc = start(
            [NODE, "--max-old-space-size=4096", str(NODE_DIR / "load.mjs"), str(path)],
            name,
            cwd=NODE_DIR,
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE if commands else None,
        )
        self.lines: list[dict] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if msg.get("event") == "progress":
                log(f"  {self.proc.name}: {msg['connected']}/{msg['of']} connected")
            with self.cond:
                self.lines.append(msg)
                self.cond.notify_all()
        with self.cond:
            self.lines.append({"event": "eof"})
            self.cond.notify_all()

    def wait(self, event: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for msg in self.lines:
                    if msg.get("event") == event:
                        return msg
                    if msg.get("event") in ("error", "eof"):
                        raise RuntimeError(f"{self.proc.name}: {msg}; see {WORK}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"{self.proc.name}: no {event!r} in {timeout}s")
                self.cond.wait(left)

    def send(self, command: dict) -> None:
        """One JSON-line command to a process started with ``commands=True``."""
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()

    def finish(self, timeout: float) -> dict:
        result = self.wait("result", timeout)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        stop(self.proc)
        return result


# ---- /proc -----------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def machine_busy_seconds() -> float:
    """CPU time spent by everything on the machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def other_cpu(busy0: float, server_cpu: float, client_cpu: float) -> float:
    """CPU seconds that neither the servers nor the load generator used since ``busy0``
    (other processes on the machine: the noise to read a figure with)."""
    return max(0.0, machine_busy_seconds() - busy0 - server_cpu - client_cpu)


def measured_run(load: Load, pids: list[int], label: str, what: str) -> dict:
    """Wait until the load's sockets are connected, then finish the run measuring the CPU
    of each server (``serverCpuEach``, summed in ``serverCpu``) and, when the load
    generator reports its own, of everything else on the machine (``otherCpu``)."""
    ready = load.wait("ready", 600)
    log(f"{label}: {ready['connected']} sockets in {ready['connectSeconds']:.1f}s; {what}")
    cpu0, busy0 = [cpu_seconds(pid) for pid in pids], machine_busy_seconds()
    result = load.finish(600)
    result["serverCpuEach"] = [cpu_seconds(pid) - x for pid, x in zip(pids, cpu0, strict=True)]
    result["serverCpu"] = sum(result["serverCpuEach"])
    if "clientCpu" in result:
        result["otherCpu"] = other_cpu(busy0, result["serverCpu"], result["clientCpu"])
    return result


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


# ---- output ------------------------------------------------------------------------------------


def fmt(v, digits: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| "
        + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        + " |"
        for r in cells
    ]
    return "\n".join([line, sep, *body])


def machine() -> str:
    mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
    node_v = subprocess.run([NODE, "-v"], capture_output=True, text=True).stdout.strip()
    py_v = subprocess.run([PY, "-V"], capture_output=True, text=True).stdout.strip()
    return (
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; nproc {os.cpu_count()}; "
        f"memory {int(mem) // 1024} MiB; {py_v}; node {node_v}; commit {revision()}; "
        f"load average {loadavg():.2f}"
    )


def revision() -> str:
    """The commit measured, '+dirty' when server code (outside bench/) has local changes."""

    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench")
    return head + ("+dirty" if dirty.strip() else "")
