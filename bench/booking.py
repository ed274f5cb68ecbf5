"""Bench 2, end-to-end booking latency with idle sockets connected.

    .venv/bin/python bench/booking.py [--sockets 1000] [--bookings 200] [--interval-ms 50]
                                      [--modes embedded,redis]

N sockets (N-1 patients and the doctor dr.martin) stay connected; one patient books one
of the doctor's free slots every ``--interval-ms`` through POST /api/rendezvous/ (on a
fixed schedule, not waiting for the previous answer). Latency is from the start of the
POST to ``rendezvous:created`` at that patient's socket and to ``rendezvous:new`` at the
doctor's socket. Modes: ``embedded`` (SQLite + in-memory layer, one daphne) and
``redis`` (PostgreSQL + Redis channel layer, one daphne).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import common as c  # noqa: E402


def run_mode(mode: str, args) -> dict:
    env = c.project_env(mode)
    patients = max(1, args.sockets - 1)
    data = c.prepare(env, patients, slots=args.bookings + 1)
    tokens = [p["token"] for p in data["patients"]] + [data["doctor"]]
    # The first booking after start runs cold code paths (~45 ms here): it is booked and
    # reported on its own ("first booking"), before the measured ones.
    warmup, *slots = data["slots"]
    bookings = [{"patientIndex": k % patients, "creneau": slot} for k, slot in enumerate(slots)]
    proc, port = c.start_daphne(env, name=f"daphne-{mode}")
    try:
        c.warm_project(port, data["admin"])
        load = c.Load({
            "mode": "booking", "urls": [f"http://127.0.0.1:{port}"], "sockets": len(tokens),
            "tokens": tokens, "doctorSockets": [len(tokens) - 1], "bookings": bookings,
            "warmupBooking": {"patientIndex": patients - 1, "creneau": warmup},
            "bookingUrl": f"http://127.0.0.1:{port}/api/rendezvous/", "intervalMs": args.interval_ms,
            "connectConcurrency": args.concurrency, "deliveryTimeoutMs": 120_000,
            "hardTimeoutSeconds": 900, "countEvents": True,
        }, name=f"load-booking-{mode}")
        result = c.measured_run(load, [proc.pid], mode, "booking")
    finally:
        c.stop(proc)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=1000)
    p.add_argument("--bookings", type=int, default=200)
    p.add_argument("--interval-ms", type=float, default=50)
    p.add_argument("--modes", default="embedded,redis")
    p.add_argument("--concurrency", type=int, default=100)
    args = p.parse_args()
    c.raise_nofile()
    rows, results = [], {}
    label = {"embedded": "embedded (SQLite + in-memory)", "redis": "Redis + PostgreSQL"}
    for mode in args.modes.split(","):
        c.log(f"mode {mode}")
        res = results[mode] = run_mode(mode, args)
        rows.append([
            label[mode], res["connected"], res["bookings"], res["postErrors"],
            res["postMs"]["p50"], res["postMs"]["p99"],
            res["created"]["p50"], res["created"]["p99"], res["missingCreated"],
            res["new"]["p50"], res["new"]["p99"], res["missingNew"], res["serverCpu"],
            res.get("firstBookingMs"),
        ])
    print()
    print(f"booking: {args.sockets} sockets connected, {args.bookings} bookings, one per "
          f"{args.interval_ms:g} ms; {c.machine()}")
    print(c.table(["mode", "sockets", "bookings", "POST errors", "POST p50", "POST p99",
                   "created p50", "created p99", "missing", "new p50", "new p99", "missing",
                   "server CPU s", "first booking"], rows))
    print("(latencies in ms, from the start of POST /api/rendezvous/ to the event at the socket; "
          "'first booking': the one booked before the measured ones, right after start)")
    for mode, res in results.items():
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(res.get("eventCounts", {}).items()))
        print(f"{mode}: events received by all sockets during the run: {counts}")
        series = [(ms, k) for k, ms in enumerate(res.get("createdSeries") or []) if ms is not None]
        if series:
            slow = ", ".join(f"#{k} {ms:.1f}" for ms, k in sorted(series, reverse=True)[:5])
            print(f"{mode}: slowest rendezvous:created (booking # in send order, ms): {slow}")
    for mode, res in results.items():
        if res["postErrors"] or res["missingCreated"] or res["missingNew"] or res["dupCreated"] or res["dupNew"]:
            print(f"WARNING {mode}: errors={res['postErrors']} sample={res['postErrorSample']} "
                  f"dupCreated={res['dupCreated']} dupNew={res['dupNew']}")


if __name__ == "__main__":
    main()
