"""Bench 5, a crowd: N concurrent bookings of one slot (or N concurrent sign-ups).

    .venv/bin/python bench/crowd.py [--requests 500] [--modes redis,embedded]
                                    [--scenario booking|signup] [--no-sockets]
                                    [--server-env KEY=VALUE ...] [--label TEXT]

``booking``: N patients, each with a socket (official socket.io-client), all POST
/api/rendezvous/ for the same slot at the same moment (one connection per request, no
client-side limit). Expected: one 201, N-1 × 409 ``creneau_indisponible``, no 5xx, one
``creneau:conflict`` per loser. ``signup``: N concurrent POST /api/auth/register/ with
real PBKDF2 hashing (Django's 1,000,000 iterations), while one patient's GET /api/me/
and POST /api/notifications/read-all/ (a write) run in turn, one after the other (the
"probe"): how long does another user's ordinary request wait?

Modes: ``redis`` is production (two daphne processes, PostgreSQL + Redis; requests and
sockets dealt alternately to both), ``embedded`` one daphne on SQLite + the in-memory
layer. Printed per mode: statuses, latency from the start of each POST to its answer,
conflict events, peak database connections of the servers (PostgreSQL:
``pg_stat_activity`` for the run's database; SQLite: the servers' open descriptors on
the database file), and peak server threads, sampled every 10 ms. Set ``BENCH_PG`` to
run against another PostgreSQL server (e.g. a private one for a run that may exhaust it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import common as c  # noqa: E402

CONFLICT_MESSAGE = "Ce créneau n'est plus disponible"
# Client connections only: autovacuum workers also show the database's name.
CLIENTS = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"


class Sampler:
    """Peak database connections and threads of the server processes, every 10 ms."""

    def __init__(self, env: dict, pids: list[int]) -> None:
        self.pids = pids
        self.url = env["DATABASE_URL"]
        self.peak_connections = 0
        self.peak_threads = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _connections(self, cursor) -> int:
        if cursor is not None:
            dbname = urllib.parse.urlsplit(self.url).path.lstrip("/")
            cursor.execute(CLIENTS, (dbname,))
            return cursor.fetchone()[0]
        path = urllib.parse.urlsplit(self.url).path  # sqlite:////abs/path -> //abs/path
        target = os.path.realpath("/" + path.lstrip("/"))
        n = 0
        for pid in self.pids:
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except FileNotFoundError:
                continue
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        n += 1
                except OSError:
                    pass
        return n

    def _threads(self) -> int:
        total = 0
        for pid in self.pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("Threads:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                pass
        return total

    def _run(self) -> None:
        conn = cursor = None
        if self.url.startswith("postgres"):
            import psycopg

            conn = psycopg.connect(c.PG_URL + "/postgres", autocommit=True)
            cursor = conn.cursor()
        try:
            while not self._stop.is_set():
                self.peak_connections = max(self.peak_connections, self._connections(cursor))
                self.peak_threads = max(self.peak_threads, self._threads())
                self.samples += 1
                self._stop.wait(0.01)
        finally:
            if conn is not None:
                conn.close()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)


def server_env(args) -> dict:
    extra = dict(item.split("=", 1) for item in args.server_env)
    if args.scenario == "signup":
        extra.setdefault("FAST_PASSWORD_HASHER", "0")  # real PBKDF2 in the servers
    return extra


def run_mode(mode: str, args) -> dict:
    env = c.project_env(mode)
    n = args.requests
    data = c.prepare(env, n + 1, slots=1)  # the last patient is the probe
    patients, probe = data["patients"][:n], data["patients"][n]
    slot = data["slots"][0]
    servers = 2 if mode == "redis" else 1
    senv = {**env, **server_env(args)}
    procs = [c.start_daphne(senv, name=f"daphne-{mode}-{i}") for i in range(servers)]
    try:
        urls = [f"http://127.0.0.1:{port}" for _, port in procs]
        for _, port in procs:
            c.warm_project(port, data["admin"])
        tag = f"crowd{os.getpid()}x{int(time.time())}"
        if args.scenario == "booking":
            requests = [{"url": f"{urls[i % servers]}/api/rendezvous/", "token": p["token"],
                         "body": {"creneau": slot, "motif": "bench crowd"}} for i, p in enumerate(patients)]
        else:
            requests = [{"url": f"{urls[i % servers]}/api/auth/register/", "token": None,
                         "body": {"email": f"{tag}-{i}@bench.local", "password": "Un-bon-mot-de-passe"}}
                        for i in range(n)]
        sockets = n if args.scenario == "booking" and args.sockets else 0
        load = c.Load({
            "mode": "crowd", "urls": urls, "sockets": sockets, "tokens": [p["token"] for p in patients],
            "requests": requests, "creneau": slot, "conflictMessage": CONFLICT_MESSAGE,
            "probe": {"url": f"{urls[0]}/api/me/", "writeUrl": f"{urls[0]}/api/notifications/read-all/",
                      "token": probe["token"]},
            "connectConcurrency": args.concurrency, "deliveryTimeoutMs": 60_000, "hardTimeoutSeconds": 900,
        }, name=f"load-crowd-{mode}")
        ready = load.wait("ready", 600)
        c.log(f"{mode}: {ready['connected']} sockets in {ready['connectSeconds']:.1f}s; {n} requests at once")
        pids = [p.pid for p, _ in procs]
        cpu0 = [c.cpu_seconds(pid) for pid in pids]
        with Sampler(env, pids) as sampler:
            result = load.finish(900)
        result["serverCpu"] = sum(c.cpu_seconds(pid) - x for pid, x in zip(pids, cpu0, strict=True))
        result["peakConnections"] = sampler.peak_connections
        result["peakThreads"] = sampler.peak_threads
        result["servers"] = servers
    finally:
        for proc, _ in procs:
            c.stop(proc)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=500)
    p.add_argument("--modes", default="redis,embedded")
    p.add_argument("--scenario", choices=["booking", "signup"], default="booking")
    p.add_argument("--no-sockets", dest="sockets", action="store_false",
                   help="booking without the patients' sockets (no conflict events counted)")
    p.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                   help="extra environment for the servers (e.g. REQUEST_THREADS=16)")
    p.add_argument("--label", default="", help="shown in the header (e.g. 'before: main at 50a3331')")
    p.add_argument("--concurrency", type=int, default=100, help="sockets connecting at once")
    args = p.parse_args()
    c.raise_nofile()
    label = {"embedded": "embedded (SQLite + in-memory)", "redis": "production (2 daphne, PG + Redis)"}
    rows, results = [], {}
    for mode in args.modes.split(","):
        c.log(f"mode {mode}")
        res = results[mode] = run_mode(mode, args)
        st = {int(k): v for k, v in res["statuses"].items()}
        fivexx = sum(v for k, v in st.items() if k >= 500)
        other = sum(v for k, v in st.items() if k not in (201, 409) and k < 500)
        row = [label[mode], res["requests"], st.get(201, 0), st.get(409, 0), fivexx, other,
               res["postMs"]["p50"], res["postMs"]["p99"], res["postMs"]["max"]]
        if args.scenario == "booking":
            row += [f"{res['conflictsExactlyOne']}/{res['conflictsExpected']}" if res["sockets"] else "-"]
        else:
            row += [res["probeMs"]["n"] + res["probeWriteMs"]["n"], res["probeMs"]["p50"], res["probeMs"]["max"],
                    res["probeWriteMs"]["p50"], res["probeWriteMs"]["max"], res["probeErrors"]]
        row += [res["peakConnections"], res["peakThreads"], res["serverCpu"]]
        rows.append(row)
    extra = " ".join(args.server_env)
    what = (f"{args.requests} concurrent bookings of one slot" if args.scenario == "booking"
            else f"{args.requests} concurrent sign-ups (real PBKDF2); meanwhile one patient's GET /api/me/ and "
                 "POST /api/notifications/read-all/ in turn (the probe)")
    print()
    print(f"crowd: {what}{'; ' + extra if extra else ''}{'; ' + args.label if args.label else ''}; {c.machine()}")
    head = ["mode", "requests", "201", "409", "5xx", "other", "p50 ms", "p99 ms", "max ms"]
    if args.scenario == "booking":
        head += ["conflict events 1 each"]
    else:
        head += ["probe n", "GET p50 ms", "GET max ms", "write p50 ms", "write max ms", "probe errors"]
    print(c.table(head + ["peak DB conns", "peak threads", "server CPU s"], rows))
    print("(latency from the start of each POST to its answer; peak DB connections of the servers: "
          "pg_stat_activity for the run's database, or descriptors on the SQLite file; threads of all servers)")
    for mode, res in results.items():
        if res.get("errorSample"):
            print(f"{mode}: first 5xx/error: {res['errorSample']}")
        if res["sockets"] and (res["conflictsMissing"] or res["conflictsExtra"] or res["conflictsToNonLosers"]
                               or res["wrongShape"]):
            print(f"WARNING {mode}: conflict events missing {res['conflictsMissing']}, extra "
                  f"{res['conflictsExtra']}, to non-losers {res['conflictsToNonLosers']}, "
                  f"wrong payload {res['wrongShape']}")
    if os.environ.get("BENCH_PG"):
        out = subprocess.run(["psql", f"{c.PG_URL}/postgres", "-Atc", "show max_connections"],
                             capture_output=True, text=True).stdout.strip()
        print(f"PostgreSQL: {c.PG_URL} (max_connections {out})")


if __name__ == "__main__":
    main()
