"""Where a held socket's memory goes: a gc census of daphne before and after N sockets.

    .venv/bin/python bench/census.py [--sockets 2000]

Runs daphne in a bench-only launcher (bench/census.py --serve) that, on SIGUSR1, writes
the live objects counted by type, with their shallow sizes (sys.getsizeof), to a JSON
file. The driver takes one census after warm-up and one with N idle authenticated
sockets connected, and prints the types that grew, per socket.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))


def serve(port: int, out: str) -> None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def census(signum, frame):
        gc.collect()
        counts: collections.Counter = collections.Counter()
        sizes: collections.Counter = collections.Counter()
        for obj in gc.get_objects():
            t = type(obj)
            name = f"{t.__module__}.{t.__qualname__}"
            counts[name] += 1
            try:
                sizes[name] += sys.getsizeof(obj)
            except TypeError:
                pass
            if isinstance(obj, type):  # which classes get made at run time
                counts[f"(class) {obj.__module__}.{obj.__qualname__}"] += 1
        # Who holds the dicts and lists: one pass over every object's referents.
        wanted = {id(o): o for o in gc.get_objects() if type(o) in (dict, list)}
        holder_of: dict = {}  # id(child) -> holder object, to walk up through dicts and lists
        for holder in gc.get_objects():
            for child in gc.get_referents(holder):
                if id(child) in wanted and id(child) not in holder_of:
                    holder_of[id(child)] = holder
        for obj in wanted.values():
            path, node = [], obj
            for _ in range(4):  # up through containers to the first object that is not one
                node = holder_of.get(id(node))
                if node is None:
                    break
                path.append(type(node).__qualname__)
                if type(node) not in (dict, list, tuple):
                    break
            counts[f"({type(obj).__name__} in) {' < '.join(path) or '?'}"] += 1
        with open(out, "w") as f:
            json.dump({"counts": counts, "sizes": sizes}, f)

    signal.signal(signal.SIGUSR1, census)
    from daphne.cli import CommandLineInterface

    CommandLineInterface().run(["-b", "127.0.0.1", "-p", str(port), "medical_booking.asgi:application"])


def main() -> None:
    import common as c

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sockets", type=int, default=2000)
    p.add_argument("--top", type=int, default=30)
    args = p.parse_args()
    c.raise_nofile()
    env = c.project_env("embedded")
    data = c.prepare(env, args.sockets)
    port = c.free_port()
    out = c.WORK / "census.json"
    proc = c.start([c.PY, os.path.abspath(__file__), "--serve", str(port), str(out)], "daphne-census",
                   env={**c.BASE_ENV, **env})
    c.wait_port(port, proc)
    c.warm_project(port, data["admin"])

    def take() -> dict:
        if out.exists():
            out.unlink()
        os.kill(proc.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if out.exists():
                time.sleep(0.5)
                try:
                    return json.loads(out.read_text())
                except ValueError:
                    continue
            time.sleep(0.2)
        raise RuntimeError("no census")

    before, rss0 = take(), c.rss_bytes(proc.pid)
    load = c.Load({"mode": "held", "urls": [f"http://127.0.0.1:{port}"], "sockets": args.sockets,
                   "tokens": [x["token"] for x in data["patients"]], "connectConcurrency": 100,
                   "holdSeconds": 600, "hardTimeoutSeconds": 900}, name="load-census")
    ready = load.wait("ready", 600)
    time.sleep(3)
    after, rss1 = take(), c.rss_bytes(proc.pid)
    load.proc.send_signal(signal.SIGUSR2)
    load.finish(120)
    c.stop(proc)
    n = ready["connected"]
    rows = []
    total = 0
    for name in after["counts"]:
        dc = after["counts"][name] - before["counts"].get(name, 0)
        ds = after["sizes"].get(name, 0) - before["sizes"].get(name, 0)
        total += ds
        if dc > 0:
            rows.append([name, dc / n, ds / n])
    detail = sorted((r for r in rows if r[0].startswith("(")), key=lambda r: -r[1])
    rows = [r for r in rows if not r[0].startswith("(")]
    rows.sort(key=lambda r: -r[2])
    print(f"census: {n} idle sockets on daphne; RSS delta {(rss1 - rss0) / n / 1024:.1f} KiB/socket; "
          f"gc-tracked shallow sizes {total / n / 1024:.1f} KiB/socket (strings, bytes and ints "
          f"outside containers are not gc-tracked); {c.machine()}")
    print(c.table(["type", "objects/socket", "bytes/socket"],
                  [[r[0], f"{r[1]:.2f}", f"{r[2]:,.0f}"] for r in rows[:args.top]]))
    print("\nclasses made at run time, and who holds the newest dicts and lists (per socket):")
    print(c.table(["what", "per socket"], [[r[0], f"{r[1]:.2f}"] for r in detail[:args.top]]))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3])
    else:
        main()
