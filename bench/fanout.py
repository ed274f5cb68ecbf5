"""Bench 1, fan-out: N patient sockets, M ``notification:general`` broadcasts via POST.

    .venv/bin/python bench/fanout.py [--sockets 1000] [--broadcasts 20] [--interval-ms 0]
                                     [--servers project,pysio,node] [--redis] [--repeat 1]
    (also project-noeager / project-untuned: the project with DAPHNE_* tuning off;
     project-stock: with python-engineio's own sockets, ENGINEIO_LEAN_SOCKETS=0)

Servers, same rooms and payload, one after the other in the same run:
  project  this project on daphne, embedded mode (SQLite + in-memory layer); the admin
           POSTs /api/notifications/broadcast/ {message, type, role: PATIENT}
  redis    (with --redis) this project on daphne, PostgreSQL + Redis channel layer
  pysio    a bare python-socketio AsyncServer on uvicorn (bench/peer_pysio.py)
  node     the Node socket.io 4.x server (bench/node/server.mjs)
  nginx    this project (embedded) behind nginx, deploy/nginx/medical-booking.conf as
           devtools/cluster.py runs it, with this one daphne as its upstream: sockets and
           POSTs through nginx; printed as "through nginx / direct" beside ``project``
           (``--servers project,nginx --repeat 5``); server CPU is daphne's + nginx's
The load is bench/node/load.mjs (official socket.io-client, websocket transport). Each
broadcast is POSTed after the previous response (``--interval-ms 0``) or on a fixed
schedule; latency is from the start of the POST to each delivery.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import common as c  # noqa: E402


def run_one(kind: str, args, data_by_mode: dict) -> dict:
    cfg = {
        "mode": "fanout", "sockets": args.sockets, "broadcasts": args.broadcasts,
        "intervalMs": args.interval_ms, "connectConcurrency": args.concurrency,
        "sourceAddresses": args.source_addresses, "deliveryTimeoutMs": 120_000,
        "hardTimeoutSeconds": 900,
    }
    front = None
    if kind in c.PROJECT_VARIANTS or kind in ("redis", "nginx"):
        mode = "redis" if kind == "redis" else "embedded"
        data = data_by_mode[mode]
        proc, port = c.start_daphne({**data["env"], **c.PROJECT_VARIANTS.get(kind, {})},
                                    name=f"daphne-{kind}")
        c.warm_project(port, data["tokens"]["admin"])
        if kind == "nginx":
            # deploy/nginx/medical-booking.conf, as devtools/cluster.py runs it, in front of
            # this one daphne: the sockets and the POSTs go through it
            front = c.start_nginx([port])
            port = front.port
        cfg.update(
            urls=[f"http://127.0.0.1:{port}"],
            tokens=[p["token"] for p in data["tokens"]["patients"]],
            broadcastUrls=[f"http://127.0.0.1:{port}/api/notifications/broadcast/"],
            adminToken=data["tokens"]["admin"],
            broadcastBody={"type": "info", "role": "PATIENT"},
        )
    else:
        proc, port = c.start_pysio() if kind == "pysio" else c.start_node_server()
        cfg.update(urls=[f"http://127.0.0.1:{port}"], tokens=None,
                   broadcastUrls=[f"http://127.0.0.1:{port}/broadcast"], adminToken=None,
                   broadcastBody={"type": "info"})
    try:
        load = c.Load(cfg, name=f"load-{kind}")
        pids = [proc.pid] + (c.nginx_pids(front) if front else [])
        result = c.measured_run(load, pids, kind, "broadcasting")
        result["serverRssMiB"] = c.rss_bytes(proc.pid) / 2**20
    finally:
        if front:
            front.stop()
        c.stop(proc)
    return result


def spread(values: list[float]) -> str:
    v = sorted(values)
    return f"{v[0]:.2f} - {v[len(v) // 2]:.2f} - {v[-1]:.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--broadcasts", type=int, default=20)
    p.add_argument("--interval-ms", type=float, default=0)
    p.add_argument("--servers", default="project,pysio,node")
    p.add_argument("--redis", action="store_true", help="also this project in Redis/PostgreSQL mode")
    p.add_argument("--repeat", type=int, default=3, help="run the whole set this many times (median shown)")
    p.add_argument("--concurrency", type=int, default=100, help="sockets connecting at once")
    p.add_argument("--source-addresses", type=int, default=1, help="spread over 127.0.0.2..")
    args = p.parse_args()
    c.raise_nofile()
    servers = args.servers.split(",")
    if args.redis and "redis" not in servers:
        servers.insert(1, "redis")

    data_by_mode = {}
    for kind in servers:
        mode = "embedded" if kind in c.PROJECT_VARIANTS else {"redis": "redis"}.get(kind)
        if mode and mode not in data_by_mode:
            env = c.project_env(mode)
            data_by_mode[mode] = {"env": env, "tokens": c.prepare(env, args.sockets)}

    results: dict[str, list[dict]] = {k: [] for k in servers}
    for r in range(args.repeat):
        for kind in servers:
            c.log(f"run {r + 1}/{args.repeat}: {kind}")
            results[kind].append(run_one(kind, args, data_by_mode))

    def best(kind):  # the run with the median throughput
        runs = sorted(results[kind], key=lambda x: x["deliveriesPerSecond"])
        return runs[len(runs) // 2]

    label = {"project": "this project (daphne, embedded)", "redis": "this project (daphne, Redis+PG)",
             "nginx": "this project through nginx (embedded)",
             "pysio": "python-socketio + uvicorn", "node": "Node socket.io 4", **c.VARIANT_LABELS}
    base = best("pysio")["deliveriesPerSecond"] if "pysio" in results else None
    rows = []
    for kind in servers:
        res = best(kind)
        lat = res["latencyMs"]
        rows.append([
            label[kind], res["connected"], res["delivered"], res["lost"], res["duplicates"],
            res["deliveriesPerSecond"], lat["p50"], lat["p99"], lat["max"], res["postMs"]["p50"],
            res["serverCpu"], res["clientCpu"], res["otherCpu"],
            f'{1000 * res["serverCpu"] / max(res["delivered"], 1):.3f}',
            (res["deliveriesPerSecond"] / base) if base else None,
        ])
    print()
    print(f"fan-out: {args.sockets} sockets x {args.broadcasts} broadcasts "
          f"(interval {args.interval_ms:g} ms, {args.repeat} run(s), median shown); {c.machine()}")
    print(c.table(["server", "sockets", "delivered", "lost", "dup", "deliveries/s", "p50 ms", "p99 ms",
                   "max ms", "POST p50 ms", "server CPU s", "client CPU s", "others' CPU s",
                   "server CPU ms/delivery",
                   "x pysio"], rows))
    if "project" in results:
        # Ratios are taken within each repetition (servers measured back to back), then
        # the median over repetitions: a busy machine slows a whole repetition together.
        if "nginx" in results:
            # the figure asked for: through nginx / direct, per repetition
            per_run = [q["deliveriesPerSecond"] / p["deliveriesPerSecond"]
                       for p, q in zip(results["project"], results["nginx"], strict=True)]
            cpu = [q["serverCpu"] / max(p["serverCpu"], 1e-9)
                   for p, q in zip(results["project"], results["nginx"], strict=True)]
            p99 = [q["latencyMs"]["p99"] / p["latencyMs"]["p99"]
                   for p, q in zip(results["project"], results["nginx"], strict=True)]
            print(f"ratio through nginx / direct, deliveries/s: {spread(per_run)}; p99 latency: {spread(p99)}; "
                  f"server CPU (daphne + nginx / daphne): {spread(cpu)} "
                  f"(min - median - max over {len(per_run)} repetitions; per repetition "
                  f"{', '.join(f'{x:.2f}' for x in per_run)})")
        for kind in ("pysio", "node", "redis", *c.VARIANT_LABELS):
            if kind in results and kind != "project":
                per_run = sorted(p["deliveriesPerSecond"] / q["deliveriesPerSecond"]
                                 for p, q in zip(results["project"], results[kind], strict=True))
                print(f"ratio this project / {label[kind]}: {per_run[len(per_run) // 2]:.2f}x "
                      f"(median of per-repetition ratios {', '.join(f'{x:.2f}' for x in per_run)})")
    for kind in servers:
        print(f"{kind} deliveries/s per repetition: "
              + ", ".join(f"{x['deliveriesPerSecond']:,.0f}" for x in results[kind])
              + "; others' CPU s: " + ", ".join(f"{x['otherCpu']:.1f}" for x in results[kind]))
    problems = [k for k in servers for x in results[k] if x["lost"] or x["duplicates"] or x["postErrors"]]
    if problems:
        print("WARNING: lost/duplicate deliveries or POST errors in: " + ", ".join(sorted(set(problems))))
        for k in sorted(set(problems)):
            x = results[k][0]
            print(f"  {k}: postErrors={x['postErrors']} sample={x['postErrorSample']}")


if __name__ == "__main__":
    main()
