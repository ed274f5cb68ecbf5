"""Where time goes: py-spy on this project's daphne while bench 1 or 2 runs.

    .venv/bin/python bench/hotspots.py fanout  [--sockets 1000] [--broadcasts 60] [--server pysio]
    .venv/bin/python bench/hotspots.py booking [--sockets 1000] [--bookings 200]
    .venv/bin/python bench/hotspots.py held    [--sockets 5000] [--hold 60]

Samples every thread of the daphne process (py-spy record, 250 Hz, idle frames dropped)
from the moment the sockets are connected until the load ends (held: for --hold seconds
of idle heartbeats), then prints the top
functions by inclusive and by self time, and writes the collapsed stacks (flamegraph
input, one stack per line) to bench/profiles/.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import common as c  # noqa: E402

OUT = c.BENCH / "profiles"
FRAME = re.compile(r"^(?P<fn>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m.group('fn')} ({path})"


def report(collapsed: Path, top: int) -> str:
    total = 0
    inclusive: collections.Counter = collections.Counter()
    self_: collections.Counter = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        n = int(n)
        frames = [short(f) for f in stack.split(";")]
        # py-spy puts "process/thread" first when asked; keep only code frames
        frames = [f for f in frames if "(" in f]
        total += n
        for f in set(frames):
            inclusive[f] += n
        if frames:
            self_[frames[-1]] += n
    lines = [f"{total} samples (all threads, idle excluded)", "", "inclusive:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {f}" for f, n in self_.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", choices=["fanout", "booking", "held"])
    p.add_argument("--server", choices=["project", "pysio"], default="project",
                   help="fanout only: profile the bare python-socketio peer instead")
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--broadcasts", type=int, default=60)
    p.add_argument("--bookings", type=int, default=200)
    p.add_argument("--interval-ms", type=float, default=None)
    p.add_argument("--hold", type=float, default=60)
    p.add_argument("--top", type=int, default=45)
    p.add_argument("--rate", type=int, default=250)
    args = p.parse_args()
    c.raise_nofile()
    pyspy = str(c.ROOT / ".venv" / "bin" / "py-spy")
    OUT.mkdir(exist_ok=True)
    env = c.project_env("embedded")
    if args.target in ("fanout", "held"):
        data = c.prepare(env, args.sockets)
        tokens = [x["token"] for x in data["patients"]]
    else:
        data = c.prepare(env, args.sockets - 1, slots=args.bookings)
        tokens = [x["token"] for x in data["patients"]] + [data["doctor"]]
    if args.server == "pysio":
        proc, port = c.start_pysio()
    else:
        proc, port = c.start_daphne(env, name="daphne-profile")
        c.warm_project(port, data["admin"])
    base = {"urls": [f"http://127.0.0.1:{port}"], "tokens": tokens, "sockets": len(tokens),
            "connectConcurrency": 100, "deliveryTimeoutMs": 120_000, "hardTimeoutSeconds": 900}
    if args.target == "fanout":
        cfg = {**base, "mode": "fanout", "broadcasts": args.broadcasts,
               "intervalMs": args.interval_ms or 0,
               "broadcastUrls": [f"http://127.0.0.1:{port}/api/notifications/broadcast/"],
               "adminToken": data["admin"], "broadcastBody": {"type": "info", "role": "PATIENT"}}
    elif args.target == "held":
        cfg = {**base, "mode": "held", "holdSeconds": args.hold + 600, "sourceAddresses": 4}
    else:
        patients = len(tokens) - 1
        cfg = {**base, "mode": "booking", "doctorSockets": [patients],
               "bookings": [{"patientIndex": k % patients, "creneau": s} for k, s in enumerate(data["slots"])],
               "bookingUrl": f"http://127.0.0.1:{port}/api/rendezvous/",
               "intervalMs": 50 if args.interval_ms is None else args.interval_ms}
    if args.server == "pysio":
        cfg.update(tokens=None, adminToken=None, broadcastBody={"type": "info"},
                   broadcastUrls=[f"http://127.0.0.1:{port}/broadcast"])
    load = c.Load(cfg, name=f"load-profile-{args.target}")
    load.wait("ready", 600)
    stem = args.target + ("-pysio" if args.server == "pysio" else "")
    if args.target == "booking" and args.sockets != 1000:
        stem += f"-{args.sockets}sockets"
    collapsed = OUT / f"{stem}.collapsed.txt"
    spy = subprocess.Popen(
        [pyspy, "record", "--pid", str(proc.pid), "--rate", str(args.rate), "--format", "raw",
         "--output", str(collapsed), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    time.sleep(0.5)
    try:
        if args.target == "held":
            cpu0 = c.cpu_seconds(proc.pid)
            time.sleep(args.hold)
            cpu = c.cpu_seconds(proc.pid) - cpu0
            load.proc.send_signal(signal.SIGUSR2)
        result = load.finish(600)
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    c.stop(proc)
    print(f"profile of {args.target}: {c.machine()}")
    if args.target == "fanout":
        print(f"  {result['delivered']} deliveries, {result['deliveriesPerSecond']:,.0f}/s under py-spy, "
              f"p50 {result['latencyMs']['p50']:.1f} ms, p99 {result['latencyMs']['p99']:.1f} ms")
    elif args.target == "held":
        print(f"  {result['alive']} idle sockets, server CPU {cpu:.1f} s over {args.hold:g} s (under py-spy)")
    else:
        print(f"  POST p50 {result['postMs']['p50']:.1f} ms, created p50 {result['created']['p50']:.1f} ms, "
              f"p99 {result['created']['p99']:.1f} ms under py-spy")
    print(report(collapsed, args.top))
    print(f"\ncollapsed stacks: {collapsed.relative_to(c.ROOT)}")


if __name__ == "__main__":
    main()
