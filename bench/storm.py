"""Reconnect storm (issue 15 item 3): N authenticated sockets on one server process, the
process restarts, every client reconnects at once with its ``lastEventId``.

    .venv/bin/python bench/storm.py                      # 10,000 sockets, project then Node, once
    .venv/bin/python bench/storm.py --runs 5 [--sockets 10000] [--servers project,node]
                                    [--mode redis|embedded] [--loaders 4] [--missed 5]

One run, for each server in turn (same N, same load processes, same machine):

1. start the server; N sockets connect (official socket.io-client 4.8.1, websocket,
   ``auth`` a function returning ``{token, lastEventId}`` as the web front's
   ``frontend/js/live.js`` does), 100 at a time per load process;
2. two "prime" broadcasts reach every socket: each now holds a recent ``lastEventId``;
3. the server process is stopped (SIGTERM: the project drains, closing every transport
   with a reconnect reason, serving/graceful.py) and, while it is down, ``--missed``
   broadcasts are written to the event log (``realtime.services.broadcast`` in a separate
   process, as another server or a cron would);
4. the server is started again on the same port and, once it listens, every client is
   told to reconnect **at the same moment** (no backoff jitter spreading them: the worst
   case); meanwhile a "live" broadcast is POSTed every ``--live-interval`` s; an attempt
   that fails (connect_error, or the transport closed before the CONNECT was answered) is
   retried as the official client's reconnection does (1 s doubling to 5 s, randomised
   ±50 %) until ``--timeout``: "failed attempts" counts them, "errors" counts the sockets
   never back (and those dropped after they were back); ``--no-retry``: no second try;
5. measured from that moment: all sockets connected (connects/s = N / that time), all
   replayed (each got every missed event), all receiving live events (each got a live
   broadcast after its replay); connect errors; server CPU, load-generator CPU, and the
   CPU everything else on the machine used meanwhile;
6. a last live broadcast, then every socket's received ids are checked against the event
   ids expected for it (everything after its ``lastEventId``): lost, duplicated, out of
   order, unexpected.

Node socket.io (bench/node/server.mjs, no authentication, no replay) runs the same steps
without step 3's missed events: its figure is bare connects/s for the same N, in the same
run. The project runs in production mode by default (``--mode redis``: a fresh PostgreSQL
database + Redis ``BENCH_REDIS``, default db 0; ``--mode embedded``: SQLite + in-memory
layer). The restarted process is not warmed: the storm meets it cold, as after a deploy.

The table prints one line per server per run, then the spread over the runs
(min–median–max) of connects/s, storm time, and the per-run ratio project/Node.
``--out DIR`` also writes the raw JSON of every run there.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import common as c  # noqa: E402

from devtools.net import free_port, http  # noqa: E402

EMIT = """
import json, sys
from realtime import services
from rendezvous.models import User
admin = User.objects.get(email="admin@demo.fr")
ids = [services.broadcast(acteur=admin, message=f"{sys.argv[2]} missed #{k}", role="PATIENT").pk
       for k in range(int(sys.argv[3]))]
print("IDS " + json.dumps(ids))
"""


def emit_missed(env: dict, tag: str, count: int) -> list[int]:
    """Broadcasts written while the server is down, from another process."""
    if count == 0:
        return []
    out = subprocess.run(
        [c.PY, "-c", "import django, sys; django.setup(); exec(sys.argv[1])", EMIT, tag, str(count)],
        cwd=c.ROOT,
        env={**os.environ, **c.BASE_ENV, **env, "DJANGO_SETTINGS_MODULE": "medical_booking.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if out.returncode:
        raise RuntimeError(f"writing the missed events failed: {out.stderr[-2000:]}")
    line = [x for x in out.stdout.splitlines() if x.startswith("IDS ")][-1]
    return json.loads(line[4:])


class Poster:
    """POSTs a "live" broadcast every ``interval`` s on a thread; keeps the event ids."""

    def __init__(self, post, interval: float) -> None:
        self.post, self.interval = post, interval
        self.ids: list[int] = []
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.k = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def one(self) -> None:
        self.k += 1
        try:
            event_id = self.post(self.k)
            if event_id is not None:
                self.ids.append(event_id)
        except Exception as exc:  # counted and printed: a failed live POST is a finding
            self.errors.append(f"{type(exc).__name__}: {exc}")

    def _run(self) -> None:
        while not self.stop.is_set():
            self.one()
            self.stop.wait(self.interval)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(60)


def run_one(kind: str, args, data: dict | None, run: int) -> dict:
    tag = f"storm-{os.getpid()}-{run}-{kind}"
    port = free_port()
    n = args.sockets
    if kind == "project":
        env = data["env"]

        def start():
            return c.start_daphne(env, port=port, name=f"daphne-storm-{run}")[0]

        admin = data["tokens"]["admin"]
        tokens = [p["token"] for p in data["tokens"]["patients"]][:n]

        def post(message: str) -> int | None:
            status, body = http(
                "POST",
                f"http://127.0.0.1:{port}/api/notifications/broadcast/",
                {"message": message, "type": "info", "role": "PATIENT"},
                token=admin,
                timeout=60,
            )
            if status != 201:
                raise RuntimeError(f"broadcast answered {status}: {str(body)[:200]}")
            return body["id"]
    else:

        def start():
            return c.start_node_server(port=port)[0]

        tokens = None

        def post(message: str) -> int | None:
            status, body = http(
                "POST", f"http://127.0.0.1:{port}/broadcast", {"message": message, "type": "info"}, timeout=60
            )
            if status != 201:
                raise RuntimeError(f"broadcast answered {status}: {str(body)[:200]}")
            return None  # no event log: nothing to check ids against

    proc = start()
    if kind == "project":
        c.warm_project(port, data["tokens"]["admin"])
    per = math.ceil(n / args.loaders)
    loaders = []
    try:
        for i in range(args.loaders):
            part = min(per, n - i * per)
            if part <= 0:
                break
            loaders.append(
                c.Load(
                    {
                        "mode": "storm",
                        "urls": [f"http://127.0.0.1:{port}"],
                        "sockets": part,
                        "tag": tag,
                        "tokens": tokens[i * per : i * per + part] if tokens else None,
                        "connectConcurrency": args.concurrency,
                        "stormConcurrency": args.storm_concurrency,
                        "sourceAddresses": args.source_addresses,
                        "connectTimeoutMs": args.timeout * 1000,
                        "hardTimeoutSeconds": 3 * args.timeout + 600,
                        "retry": not args.no_retry,
                    },
                    name=f"load-storm-{kind}-{run}-{i}",
                    commands=True,
                )
            )
        ready = [ld.wait("ready", args.timeout) for ld in loaders]
        connected = sum(r["connected"] for r in ready)
        initial_s = max(r["connectSeconds"] for r in ready)
        c.log(
            f"{kind} run {run}: {connected}/{n} connected in {initial_s:.1f}s "
            f"({sum(r['connectErrors'] for r in ready)} errors); priming"
        )
        for k in range(2):
            post(f"{tag} prime #{k}")
        for ld in loaders:
            ld.send({"cmd": "prime", "count": 2})
        primed = [ld.wait("primed", 120) for ld in loaders]
        if not all(p["ok"] for p in primed):
            raise RuntimeError(f"{kind}: not every socket got the prime broadcasts: {primed}")

        # Restart: stop, write what the clients miss, start again on the same port.
        t_stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            c.log(f"{kind}: did not exit in 60 s after SIGTERM; killed")
        c.stop(proc)
        stop_s = time.monotonic() - t_stop
        for ld in loaders:
            ld.send({"cmd": "down"})
        downs = [ld.wait("down", 120) for ld in loaders]
        missed = emit_missed(data["env"], tag, args.missed) if kind == "project" else []
        proc = start()
        load_at_storm = c.loadavg()

        spy = None
        if args.profile and kind == "project":
            spy = subprocess.Popen(
                [
                    str(c.ROOT / ".venv" / "bin" / "py-spy"),
                    "record",
                    "--pid",
                    str(proc.pid),
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--output",
                    args.profile,
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            time.sleep(0.5)
        cpu0, busy0 = c.cpu_seconds(proc.pid), c.machine_busy_seconds()
        t0 = time.monotonic()
        for ld in loaders:
            ld.send({"cmd": "storm", "missed": missed, "timeoutMs": args.timeout * 1000})
        poster = Poster(lambda k: post(f"{tag} live #{k}"), args.live_interval)
        try:
            conn = [ld.wait("connected", args.timeout + 60) for ld in loaders]
            c.log(
                f"{kind} run {run}: {sum(x['connected'] for x in conn)} reconnected in "
                f"{max(x['seconds'] for x in conn):.1f}s; waiting for replay and live events"
            )
            back = [ld.wait("back", 2 * args.timeout + 60) for ld in loaders]
        finally:
            poster.finish()
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
        window = time.monotonic() - t0
        server_cpu = c.cpu_seconds(proc.pid) - cpu0
        client_cpu = sum(b["clientCpu"] for b in back)
        others = c.other_cpu(busy0, server_cpu, client_cpu)
        poster.one()  # a last live event, then a tail in which a late duplicate would show
        time.sleep(args.tail)
        expected = missed + poster.ids
        for ld in loaders:
            ld.send({"cmd": "finish", "expected": expected})
        results = [ld.finish(120) for ld in loaders]
    finally:
        for ld in loaders:
            c.stop(ld.proc)
        c.stop(proc)

    reconnected = sum(x["connected"] for x in conn)
    all_connected_s = max(x["seconds"] for x in conn)
    out = {
        "kind": kind,
        "run": run,
        "sockets": n,
        "initialConnected": connected,
        "initialSeconds": initial_s,
        "stopSeconds": stop_s,
        "down": sum(d["down"] for d in downs),
        "missed": len(missed),
        "reconnected": reconnected,
        "errors": sum(x["errors"] for x in conn) + sum(r["stormDisconnects"] for r in results),
        "errorMessages": [x["errorMessages"] for x in conn if x["errorMessages"]],
        "failedAttempts": sum(x["failedAttempts"] for x in conn),
        "connectedSeconds": all_connected_s,
        "connectsPerSecond": reconnected / all_connected_s,
        "connectMs": [x["connectMs"] for x in conn],
        "replayedSeconds": max((b["replayedMs"]["max"] or 0) for b in back) / 1000,
        "liveSeconds": max((b["liveMs"]["max"] or 0) for b in back) / 1000,
        "allBack": all(b["ok"] for b in back),
        "replayed": sum(b["replayed"] for b in back),
        "live": sum(b["live"] for b in back),
        "window": window,
        "serverCpu": server_cpu,
        "clientCpu": client_cpu,
        "otherCpu": others,
        "lost": sum(r["lost"] for r in results),
        "dup": sum(r["dup"] for r in results),
        "outOfOrder": sum(r["outOfOrder"] for r in results),
        "unexpected": sum(r["unexpected"] for r in results),
        "alive": sum(r["alive"] for r in results),
        "expected": len(expected),
        "checkedIds": kind == "project",
        "livePostErrors": poster.errors,
        "loadAverage": load_at_storm,
    }
    c.log(f"{kind} run {run}: {json.dumps({k: v for k, v in out.items() if k != 'connectMs'})}")
    return out


LABELS = {"project": "this project (daphne)", "node": "Node socket.io 4 (bare)"}


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):,.1f} – {statistics.median(values):,.1f} – {max(values):,.1f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--servers", default="project,node")
    p.add_argument("--mode", choices=["redis", "embedded"], default="redis")
    p.add_argument("--loaders", type=int, default=4, help="Node load processes sharing the sockets")
    p.add_argument("--missed", type=int, default=5, help="broadcasts written while the server is down")
    p.add_argument("--live-interval", type=float, default=2.0)
    p.add_argument("--concurrency", type=int, default=100, help="initial connects in flight per load process")
    p.add_argument(
        "--storm-concurrency", type=int, default=0, help="reconnects in flight per load process; 0: all at once"
    )
    p.add_argument("--source-addresses", type=int, default=4, help="spread clients over 127.0.0.2..")
    p.add_argument("--timeout", type=float, default=240)
    p.add_argument(
        "--no-retry",
        action="store_true",
        help="a failed reconnect is an error at once (default: retried as the official client does)",
    )
    p.add_argument("--tail", type=float, default=2.0)
    p.add_argument("--out", default="", help="directory for the raw JSON of the runs")
    p.add_argument("--profile", default="", help="py-spy the restarted project server during the storm: FILE")
    args = p.parse_args()
    hard = c.raise_nofile()
    if args.sockets > hard - 100:
        raise SystemExit(f"{args.sockets} sockets exceed RLIMIT_NOFILE {hard} of one server process")
    servers = args.servers.split(",")
    header = c.machine()
    data = None
    if "project" in servers:
        env = c.project_env(args.mode)
        data = {"env": env, "tokens": c.prepare(env, args.sockets)}
    rows, runs = [], []
    for run in range(1, args.runs + 1):
        for kind in servers:
            c.log(f"run {run}/{args.runs}: {kind}, {args.sockets} sockets")
            r = run_one(kind, args, data, run)
            runs.append(r)
            rows.append(
                [
                    LABELS[kind],
                    run,
                    f"{r['sockets']:,}",
                    r["reconnected"],
                    r["errors"],
                    r["failedAttempts"],
                    r["connectedSeconds"],
                    r["connectsPerSecond"],
                    r["replayedSeconds"] if r["checkedIds"] else "-",
                    r["liveSeconds"],
                    r["lost"] if r["checkedIds"] else "-",
                    r["dup"] if r["checkedIds"] else "-",
                    r["outOfOrder"] if r["checkedIds"] else "-",
                    r["serverCpu"],
                    r["clientCpu"],
                    r["otherCpu"],
                    r["loadAverage"],
                    r["initialSeconds"],
                ]
            )
    lines = [
        f"storm: {args.sockets:,} sockets reconnect at once to one restarted process "
        f"(mode {args.mode}, {args.missed} events missed while down, {args.loaders} load processes, "
        f"storm concurrency {args.storm_concurrency or 'all'}); {header}",
        c.table(
            [
                "server",
                "run",
                "sockets",
                "reconnected",
                "errors",
                "failed attempts",
                "all connected s",
                "connects/s",
                "all replayed s",
                "all live s",
                "lost",
                "dup",
                "out of order",
                "server CPU s",
                "client CPU s",
                "others' CPU s",
                "load avg",
                "first connect s",
            ],
            rows,
        ),
    ]
    by = {k: [r for r in runs if r["kind"] == k] for k in servers}
    for kind, rs in by.items():
        lines.append(
            f"{LABELS[kind]}: connects/s {spread([r['connectsPerSecond'] for r in rs])}; "
            f"all live s {spread([r['liveSeconds'] for r in rs])}; errors "
            f"{sum(r['errors'] for r in rs)}; lost {sum(r['lost'] for r in rs)}; "
            f"dup {sum(r['dup'] for r in rs)} (min – median – max over {len(rs)} runs)"
        )
    if "project" in by and "node" in by:
        ratios = [
            p_["connectsPerSecond"] / n_["connectsPerSecond"] for p_, n_ in zip(by["project"], by["node"], strict=False)
        ]
        lines.append(
            f"ratio project / Node connects/s per run: {', '.join(f'{x:.2f}' for x in ratios)}; "
            f"min – median – max {min(ratios):.2f} – {statistics.median(ratios):.2f} – {max(ratios):.2f}"
        )
    text = "\n".join(lines)
    print()
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"storm-{stamp}-{c.revision()}-{secrets.token_hex(2)}"
        (out / f"{name}.txt").write_text(text + "\n")
        (out / f"{name}.json").write_text(json.dumps({"args": vars(args), "header": header, "runs": runs}, indent=1))
        c.log(f"raw output: {out / name}.txt/.json")
    if args.profile:
        import hotspots

        print(hotspots.report(Path(args.profile), 50))


if __name__ == "__main__":
    main()
