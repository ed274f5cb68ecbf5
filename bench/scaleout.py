"""Bench 4, scale-out: one daphne process versus two behind the Redis channel layer.

    .venv/bin/python bench/scaleout.py [--sockets 1000] [--broadcasts 20] [--repeat 1]
                                       [--processes 1,2]

PostgreSQL + Redis (a fresh database and channel prefix). With P processes the sockets
are dealt round-robin over them and the broadcasts POSTed round-robin to them, so most
deliveries cross the channel layer. Fan-out as in bench 1; every (socket, broadcast)
delivery is counted: lost and duplicate columns must be 0.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import common as c  # noqa: E402


def run_one(procs_n: int, args, env: dict, tokens: dict) -> dict:
    servers = []
    try:
        for i in range(procs_n):
            servers.append(c.start_daphne(env, name=f"daphne-scale-{procs_n}-{i}"))
        for _, port in servers:
            c.warm_project(port, tokens["admin"])
        load = c.Load({
            "mode": "fanout", "sockets": args.sockets, "broadcasts": args.broadcasts,
            "intervalMs": args.interval_ms, "connectConcurrency": args.concurrency,
            "urls": [f"http://127.0.0.1:{port}" for _, port in servers],
            "tokens": [p["token"] for p in tokens["patients"]],
            "broadcastUrls": [f"http://127.0.0.1:{port}/api/notifications/broadcast/" for _, port in servers],
            "adminToken": tokens["admin"], "broadcastBody": {"type": "info", "role": "PATIENT"},
            "deliveryTimeoutMs": 120_000, "hardTimeoutSeconds": 900,
        }, name=f"load-scale-{procs_n}")
        result = c.measured_run(load, [p.pid for p, _ in servers], f"{procs_n} process(es)", "broadcasting")
    finally:
        for proc, _ in servers:
            c.stop(proc)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--broadcasts", type=int, default=20)
    p.add_argument("--interval-ms", type=float, default=0)
    p.add_argument("--processes", default="1,2")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=100)
    args = p.parse_args()
    c.raise_nofile()
    env = c.project_env("redis")
    tokens = c.prepare(env, args.sockets)
    counts = [int(x) for x in args.processes.split(",")]
    results = {n: [] for n in counts}
    for r in range(args.repeat):
        for n in counts:
            c.log(f"run {r + 1}/{args.repeat}: {n} process(es)")
            results[n].append(run_one(n, args, env, tokens))

    def busy_cores(res) -> float:
        window = res["delivered"] / res["deliveriesPerSecond"] if res["deliveriesPerSecond"] else 0
        used = res["serverCpu"] + res["clientCpu"] + res["otherCpu"]
        return round(used / window, 2) if window else 0.0

    def median(n):
        runs = sorted(results[n], key=lambda x: x["deliveriesPerSecond"])
        return runs[len(runs) // 2]

    rows = []
    for n in counts:
        res = median(n)
        rows.append([f"{n} daphne process(es), Redis + PG", res["connected"], res["expected"],
                     res["delivered"], res["lost"], res["duplicates"], res["deliveriesPerSecond"],
                     res["latencyMs"]["p50"], res["latencyMs"]["p99"],
                     " + ".join(f"{x:.1f}" for x in res["serverCpuEach"]), res["clientCpu"], res["otherCpu"],
                     busy_cores(res)])
    print()
    print(f"scale-out: {args.sockets} sockets x {args.broadcasts} broadcasts, "
          f"{args.repeat} run(s), median shown; {c.machine()}")
    print(c.table(["setup", "sockets", "expected", "delivered", "lost", "dup", "deliveries/s",
                   "p50 ms", "p99 ms", "server CPU s", "client CPU s", "others' CPU s",
                   "busy cores"], rows))
    print("(busy cores: CPU seconds of servers + load generator + everything else, over the "
          "measured window; this machine has 2)")
    if len(counts) > 1:
        per_run = sorted(y["deliveriesPerSecond"] / x["deliveriesPerSecond"]
                         for x, y in zip(results[counts[0]], results[counts[-1]], strict=True))
        print(f"ratio {counts[-1]} / {counts[0]} processes: {per_run[len(per_run) // 2]:.2f}x "
              f"(median of per-repetition ratios {', '.join(f'{x:.2f}' for x in per_run)})")
        for n in counts:
            print(f"{n} process(es) deliveries/s per repetition: "
                  + ", ".join(f"{x['deliveriesPerSecond']:,.0f}" for x in results[n]))
    total_lost = sum(x["lost"] + x["duplicates"] for v in results.values() for x in v)
    print("every delivery counted: " + ("none lost, none twice" if total_lost == 0
                                        else f"PROBLEM: {total_lost} lost or duplicated"))


if __name__ == "__main__":
    main()
