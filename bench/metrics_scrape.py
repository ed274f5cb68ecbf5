"""The cost of a ``/metrics`` scrape, with N authenticated sockets connected.

    .venv/bin/python bench/metrics_scrape.py [--sockets 1000] [--scrapes 100] [--repeat 5]

One project server (daphne, embedded mode). First ``--scrapes`` scrapes with no socket
connected (the floor: registry, process collector, the reminder-backlog query), then N
patient sockets connect (official socket.io-client, websocket, bench/node/load.mjs
``held``) and each of ``--repeat`` runs scrapes ``--scrapes`` times back to back. Per run:
wall time per scrape as the scraper sees it (p50, max), the server's CPU per scrape
(utime+stime from /proc less the same process's idle CPU rate, measured just before over
as long a window), and the bytes of one exposition. The scrape's own gauges are checked
against what the load generator connected.

Then, in this process, what the recorders cost per call (``timeit``, best of
``--repeat``): the work each published event, each delivery pass and each HTTP request
adds. The counters' cost on a whole fan-out is bench/fanout.py with the
``project-nometrics`` variant (METRICS_ENABLED=0) beside ``project`` in the same run.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import time
import timeit
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))

import common as c  # noqa: E402


def scrape(url: str) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        body = response.read()
    return (time.perf_counter() - t0) * 1000, body


def gauge(body: bytes, name: str) -> float | None:
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def series(url: str, pid: int, scrapes: int) -> dict:
    """Idle CPU over a window, then ``scrapes`` scrapes; the difference is the scrapes'."""
    t0, cpu0 = time.monotonic(), c.cpu_seconds(pid)
    times, body = [], b""
    for _ in range(scrapes):
        ms, body = scrape(url)
        times.append(ms)
    window, cpu = time.monotonic() - t0, c.cpu_seconds(pid) - cpu0
    time.sleep(window)  # the same window idle, right after
    idle = c.cpu_seconds(pid) - cpu0 - cpu
    return {"p50": statistics.median(times), "max": max(times), "mean": statistics.fmean(times),
            "cpuMs": 1000 * max(cpu - idle, 0.0) / scrapes, "bytes": len(body), "body": body}


def recorder_costs(repeat: int) -> list[list]:
    """Microseconds per call of each recorder, on and off (METRICS_ENABLED)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medical_booking.settings")
    import django

    django.setup()
    from datetime import UTC, datetime

    from django.conf import settings

    from operations import metrics

    message = {"event": "notification:general",
               "data": [{"type": "info", "message": "x", "data": {}, "eventId": 1,
                         "emittedAt": datetime.now(UTC).isoformat()}]}
    calls = {
        "count_published (one event, after commit)": lambda: metrics.count_published(["notification:general"]),
        "count_delivered (one delivery pass)": lambda: metrics.count_delivered("notification:general", 1000),
        "observe_delivery (one event, lag)": lambda: metrics.observe_delivery(message),
        "observe_request (one HTTP request)": lambda: metrics.observe_request(
            "POST", "/api/notifications/broadcast/", 201, 0.012),
    }
    rows = []
    number = 20_000
    for name, call in calls.items():
        figures = []
        for enabled in (True, False):
            settings.METRICS_ENABLED = enabled
            best = min(timeit.repeat(call, number=number, repeat=repeat))
            figures.append(1e6 * best / number)
        rows.append([name, figures[0], figures[1]])
    settings.METRICS_ENABLED = True
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--scrapes", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--concurrency", type=int, default=100)
    args = p.parse_args()
    c.raise_nofile()
    env = c.project_env("embedded")
    data = c.prepare(env, args.sockets)
    proc, port = c.start_daphne(env, name="daphne-metrics")
    url = f"http://127.0.0.1:{port}/metrics"
    load = None
    try:
        c.warm_project(port, data["admin"])
        scrape(url)
        time.sleep(1)
        floor = series(url, proc.pid, args.scrapes)
        load = c.Load({
            "mode": "held", "urls": [f"http://127.0.0.1:{port}"], "sockets": args.sockets,
            "tokens": [x["token"] for x in data["patients"]][:args.sockets],
            "connectConcurrency": args.concurrency, "sourceAddresses": 1, "holdSeconds": 3600,
            "hardTimeoutSeconds": 3600,
        }, name="load-metrics")
        ready = load.wait("ready", 600)
        c.log(f"{ready['connected']} sockets connected in {ready['connectSeconds']:.1f}s; scraping")
        time.sleep(3)
        runs = []
        for r in range(args.repeat):
            run = series(url, proc.pid, args.scrapes)
            run["sockets"] = gauge(run["body"], "realtime_sockets_connected")
            run["rooms"] = gauge(run["body"], "realtime_rooms")
            if run["sockets"] != ready["connected"]:
                raise RuntimeError(f"gauge says {run['sockets']} sockets, the load connected {ready['connected']}")
            c.log(f"run {r + 1}/{args.repeat}: p50 {run['p50']:.2f} ms, server CPU {run['cpuMs']:.2f} ms/scrape")
            runs.append(run)
        load.proc.send_signal(signal.SIGUSR2)
        load.finish(120)
        load = None
    finally:
        if load is not None:
            c.stop(load.proc)
        c.stop(proc)

    rows = [["no socket", 0, None, floor["p50"], floor["max"], floor["cpuMs"], floor["bytes"]]]
    for i, run in enumerate(runs, 1):
        rows.append([f"run {i}", int(run["sockets"]), int(run["rooms"]), run["p50"], run["max"], run["cpuMs"],
                     run["bytes"]])
    p50s, cpus = [x["p50"] for x in runs], [x["cpuMs"] for x in runs]
    print()
    print(f"/metrics scrape: {args.sockets} sockets connected, {args.scrapes} scrapes per run back to back, "
          f"{args.repeat} runs; {c.machine()}")
    print(c.table(["", "sockets (gauge)", "rooms (gauge)", "wall p50 ms", "wall max ms",
                   "server CPU ms/scrape", "bytes"], rows))
    print(f"over the {len(runs)} runs: wall p50 median {statistics.median(p50s):.2f} ms "
          f"(spread {min(p50s):.2f}-{max(p50s):.2f}); server CPU median {statistics.median(cpus):.2f} ms/scrape "
          f"(spread {min(cpus):.2f}-{max(cpus):.2f})")
    print()
    print(f"recorders, microseconds per call (best of {args.repeat} x 20,000 calls, in this process):")
    print(c.table(["recorder", "METRICS_ENABLED=1 us", "METRICS_ENABLED=0 us"],
                  [[name, round(on, 2), round(off, 2)] for name, on, off in recorder_costs(args.repeat)]))


if __name__ == "__main__":
    main()
