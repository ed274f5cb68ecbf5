"""Bench 3, connections held: idle authenticated sockets, memory per socket, heartbeat CPU.

    .venv/bin/python bench/held.py [--sockets 5000] [--hold 60] [--servers project,node,pysio]
    (also project-noeager / project-untuned: the project with DAPHNE_* tuning off;
     project-stock: with python-engineio's own sockets, ENGINEIO_LEAN_SOCKETS=0)
    .venv/bin/python bench/held.py --sockets 5000,10000,20000      # the full ladder

For each server and each count: start the server, warm it, read its RSS (/proc/PID/statm),
connect N sockets (official socket.io-client, websocket, ``auth.token`` a real access
token; spread over 127.0.0.2.. source addresses and over several load processes of at
most 10,000 sockets each), wait ``--settle`` s, read RSS again, then measure the server's
CPU (utime+stime from /proc/PID/stat) over ``--hold`` s of idle heartbeats (ping every
25 s on all three servers). Memory per socket = RSS delta / sockets connected.

One process can hold at most RLIMIT_NOFILE descriptors; the hard limit here is 20,000
and cannot be raised without CAP_SYS_RESOURCE, so a count above (limit - 100) is clamped
and the table says so.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import common as c  # noqa: E402

PER_LOADER = 10_000


def run_one(kind: str, n: int, args, data: dict | None) -> dict:
    if kind in c.PROJECT_VARIANTS:
        proc, port = c.start_daphne({**data["env"], **c.PROJECT_VARIANTS[kind]},
                                    name=f"daphne-held-{kind}-{n}")
        c.warm_project(port, data["tokens"]["admin"])
        tokens = [p["token"] for p in data["tokens"]["patients"]][:n]
    elif kind == "pysio":
        proc, port = c.start_pysio()
        tokens = None
    else:
        proc, port = c.start_node_server()
        tokens = None
    loaders = []
    try:
        time.sleep(2)
        rss0 = c.rss_bytes(proc.pid)
        count = math.ceil(n / PER_LOADER)
        sources = args.source_addresses or (1 if n <= 10_000 else 4)
        t0 = time.monotonic()
        for i in range(count):
            part = min(PER_LOADER, n - i * PER_LOADER)
            loaders.append(c.Load({
                "mode": "held", "urls": [f"http://127.0.0.1:{port}"], "sockets": part,
                "tokens": tokens[i * PER_LOADER:i * PER_LOADER + part] if tokens else None,
                "offset": i * PER_LOADER, "connectConcurrency": args.concurrency,
                "sourceAddresses": sources, "holdSeconds": args.settle + args.hold + 600,
                "hardTimeoutSeconds": 3600,
            }, name=f"load-held-{kind}-{i}"))
        ready = [ld.wait("ready", 1800) for ld in loaders]
        connected = sum(r["connected"] for r in ready)
        errors = sum(r["connectErrors"] for r in ready)
        connect_s = time.monotonic() - t0
        c.log(f"{kind}: {connected}/{n} connected in {connect_s:.1f}s ({errors} errors); settling")
        time.sleep(args.settle)
        rss1 = c.rss_bytes(proc.pid)
        cpu0, w0 = c.cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.hold)
        cpu1, w1 = c.cpu_seconds(proc.pid), time.monotonic()
        rss2 = c.rss_bytes(proc.pid)
        for ld in loaders:
            ld.proc.send_signal(signal.SIGUSR2)
        results = [ld.finish(120) for ld in loaders]
        alive = sum(r["alive"] for r in results)
    finally:
        for ld in loaders:
            c.stop(ld.proc)
        c.stop(proc)
    return {
        "kind": kind, "n": n, "connected": connected, "errors": errors, "connectSeconds": connect_s,
        "rss0": rss0, "rss1": rss1, "rss2": rss2, "perSocket": (rss1 - rss0) / max(connected, 1),
        "cpu": cpu1 - cpu0, "window": w1 - w0, "alive": alive,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", default="5000", help="comma-separated counts, e.g. 5000,10000,20000")
    p.add_argument("--servers", default="project,node,pysio")
    p.add_argument("--hold", type=float, default=60, help="seconds of idle heartbeats measured")
    p.add_argument("--settle", type=float, default=5)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--source-addresses", type=int, default=0, help="0: 1 up to 10,000 sockets, else 4")
    args = p.parse_args()
    hard = c.raise_nofile()
    limit = hard - 100
    counts = []
    for raw in args.sockets.split(","):
        n = int(raw)
        if n > limit:
            c.log(f"{n} sockets exceed RLIMIT_NOFILE {hard} of one server process: clamped to {limit}")
            n = limit
        counts.append((int(raw), n))
    servers = args.servers.split(",")
    data = None
    if any(kind in c.PROJECT_VARIANTS for kind in servers):
        env = c.project_env("embedded")
        data = {"env": env, "tokens": c.prepare(env, max(n for _, n in counts))}

    rows = []
    for asked, n in counts:
        for kind in servers:
            c.log(f"{kind}: {n} sockets")
            r = run_one(kind, n, args, data)
            rows.append([
                {"project": "this project (daphne)", "node": "Node socket.io 4",
                 "pysio": "python-socketio + uvicorn", **c.VARIANT_LABELS}[kind],
                f"{n:,}" + ("" if n == asked else f" (asked {asked:,})"), r["connected"], r["errors"],
                r["connectSeconds"], r["rss0"] / 2**20, r["rss1"] / 2**20, r["perSocket"] / 1024,
                100 * r["cpu"] / r["window"], r["cpu"], r["rss2"] / 2**20, r["alive"],
            ])
    print()
    print(f"held: idle authenticated sockets, heartbeat CPU over {args.hold:g} s; {c.machine()}")
    print(c.table(["server", "sockets", "connected", "errors", "connect s", "RSS before MiB",
                   "RSS held MiB", "KiB/socket", "CPU % of a core", "CPU s", "RSS after hold MiB",
                   "alive at end"], rows))


if __name__ == "__main__":
    main()
