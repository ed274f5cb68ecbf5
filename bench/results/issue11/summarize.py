"""Per-run figures and min–median–max of the issue 11 bench runs (bench/results/issue11/*.txt).

Reads what the four benches printed (run.sh keeps each run's output with the load average
before and after it) and prints the Markdown tables quoted in bench/README.md
"After the serving move". Run from the repository root:

    .venv/bin/python bench/results/issue11/summarize.py [DIR]
"""

from __future__ import annotations

import re
import statistics
import sys
from pathlib import Path

DIR = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/results/issue11")


def runs(name: str) -> list[tuple[int, str]]:
    found = []
    for path in DIR.glob(f"{name}-*.txt"):
        m = re.fullmatch(rf"{name}-(\w+)\.txt", path.name)
        text = path.read_text()
        if m and "# rc=0;" in text:  # finished (a failed or running one is left out)
            found.append((m.group(1), text))
    return sorted(found, key=lambda item: (not item[0].isdigit(), int(item[0]) if item[0].isdigit() else 0, item[0]))


def num(text: str) -> float:
    return float(text.replace(",", "").strip())


def row(text: str, label: str) -> list[str]:
    for line in text.splitlines():
        if line.startswith("| " + label):
            return [c.strip() for c in line.strip().strip("|").split("|")]
    raise LookupError(label)


def load(text: str) -> str:
    before = re.search(r"# uptime: .*load average: ([\d.]+), ([\d.]+), ([\d.]+)", text)
    after = re.search(r"# rc=\d+;.*load average: ([\d.]+)", text)
    return f"{before.group(1) if before else '?'} → {after.group(1) if after else '?'}"


def started(text: str) -> str:
    m = re.search(r"# started \d{4}-\d\d-\d\d (\d\d:\d\d)", text)
    return m.group(1) if m else "?"


def commit(text: str) -> str:
    m = re.search(r"; commit (\S+); load average", text)
    return m.group(1) if m else "?"


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "–"
    return " – ".join(fmt.format(v) for v in (min(values), statistics.median(values), max(values)))


def fanout() -> None:
    print("#### Fan-out (1,000 sockets × 20 broadcasts, 3 repetitions per run)\n")
    print("| run | start UTC | commit | load before → after | x Node (per-repetition) | x pysio (per-repetition) "
          "| x stock sockets | project deliveries/s | Node deliveries/s | project p99 ms | others' CPU s (project reps) "
          "| server CPU ms/delivery: project / Node |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    node, pysio, stock, cpu_p, cpu_n = [], [], [], [], []
    for n, text in runs("fanout"):
        ratio = {}
        for line in text.splitlines():
            m = re.match(r"ratio this project / (.+?): ([\d.]+)x \(median of per-repetition ratios (.+)\)", line)
            if m:
                ratio[m.group(1)] = (float(m.group(2)), m.group(3))
        proj = row(text, "this project (daphne, embedded)")
        nd = row(text, "Node socket.io 4")
        others = re.search(r"project deliveries/s per repetition: .*; others' CPU s: (.+)", text)
        rn, rp, rs = (ratio["Node socket.io 4"], ratio["python-socketio + uvicorn"],
                      ratio["this project, stock engine.io sockets"])
        node.append(rn[0])
        pysio.append(rp[0])
        stock.append(rs[0])
        print(f"| {n} | {started(text)} | {commit(text)} | {load(text)} | {rn[0]:.2f} ({rn[1]}) | {rp[0]:.2f} ({rp[1]}) "
              f"| {rs[0]:.2f} | {proj[5]} | {nd[5]} | {proj[7]} | {others.group(1) if others else '?'} | {proj[13]} / {nd[13]} |")
        cpu_p.append(num(proj[13]))
        cpu_n.append(num(nd[13]))
    print(f"\nx Node min – median – max over {len(node)} runs: {spread(node)}; x pysio: {spread(pysio)}; "
          f"x stock sockets: {spread(stock)}; server CPU ms per delivery, project {spread(cpu_p, '{:.3f}')}, "
          f"Node {spread(cpu_n, '{:.3f}')}\n")
    # Every repetition (the project and Node measured back to back), with what the rest of
    # the machine used meanwhile: a repetition where others took < 1 CPU s during both
    # measured windows is "quiet".
    per_rep, quiet = [], []
    for n, text in runs("fanout"):
        reps = {}
        for line in text.splitlines():
            m = re.match(r"(project|node) deliveries/s per repetition: (.+); others' CPU s: (.+)", line)
            if m:
                reps[m.group(1)] = ([num(v) for v in m.group(2).split(", ")],
                                    [num(v) for v in m.group(3).split(", ")])
        (pd, po), (nd, no) = reps["project"], reps["node"]
        for k, (a, b, oa, ob) in enumerate(zip(pd, nd, po, no), 1):
            per_rep.append(a / b)
            if oa < 1 and ob < 1:
                quiet.append(a / b)
    print(f"x Node over all {len(per_rep)} repetitions: {spread(per_rep)}; over the {len(quiet)} quiet ones "
          f"(others' CPU < 1 s while the project and while Node were measured): {spread(quiet)}\n")


def booking() -> None:
    print("#### Booking (1,000 sockets, 200 bookings, one per 50 ms)\n")
    print("| run | start UTC | commit | load before → after | embedded created p50 / p99 | embedded new p99 "
          "| embedded first | Redis+PG created p50 / p99 | Redis+PG new p99 | Redis+PG first | missing "
          "| server CPU s embedded / Redis+PG |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    emb50, emb99, red50, red99 = [], [], [], []
    for n, text in runs("booking"):
        e = row(text, "embedded")
        r = row(text, "Redis + PostgreSQL")
        emb50.append(num(e[6]))
        emb99.append(num(e[7]))
        red50.append(num(r[6]))
        red99.append(num(r[7]))
        missing = int(num(e[8]) + num(e[11]) + num(r[8]) + num(r[11]))
        print(f"| {n} | {started(text)} | {commit(text)} | {load(text)} | {e[6]} / {e[7]} | {e[10]} | {e[13]} "
              f"| {r[6]} / {r[7]} | {r[10]} | {r[13]} | {missing} | {e[12]} / {r[12]} |")
    print(f"\nrendezvous:created, min – median – max over {len(emb99)} runs: embedded p99 {spread(emb99, '{:.1f}')} ms "
          f"(p50 {spread(emb50, '{:.1f}')}); Redis + PostgreSQL p99 {spread(red99, '{:.1f}')} ms (p50 {spread(red50, '{:.1f}')})\n")


def held() -> None:
    print("#### Held (5,000 idle authenticated sockets, 60 s of heartbeats)\n")
    print("| run | start UTC | commit | load before → after | project KiB/socket | stock sockets KiB/socket | Node KiB/socket "
          "| project CPU % of a core | stock CPU % | Node CPU % | project connect s | alive at end (project) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    proj_k, stock_k, node_k = [], [], []
    for n, text in runs("held"):
        p = row(text, "this project (daphne)")
        s = row(text, "this project, stock engine.io sockets")
        nd = row(text, "Node socket.io 4")
        proj_k.append(num(p[7]))
        stock_k.append(num(s[7]))
        node_k.append(num(nd[7]))
        print(f"| {n} | {started(text)} | {commit(text)} | {load(text)} | {p[7]} | {s[7]} | {nd[7]} | {p[8]} | {s[8]} | {nd[8]} "
              f"| {p[4]} | {p[11]} |")
    print(f"\nKiB per held socket, min – median – max over {len(proj_k)} runs: project {spread(proj_k, '{:.1f}')}; "
          f"stock sockets {spread(stock_k, '{:.1f}')}; Node {spread(node_k, '{:.1f}')}\n")


def scaleout() -> None:
    print("#### Scale-out (1,000 sockets × 20 broadcasts, 3 repetitions per run, Redis + PostgreSQL)\n")
    print("| run | start UTC | commit | load before → after | 2 / 1 processes (per-repetition) | 1 process deliveries/s "
          "| 2 processes deliveries/s | others' CPU s (1 / 2) | lost / dup |")
    print("|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for n, text in runs("scaleout"):
        m = re.search(r"ratio 2 / 1 processes: ([\d.]+)x \(median of per-repetition ratios (.+)\)", text)
        one = row(text, "1 daphne")
        two = row(text, "2 daphne")
        ratios.append(float(m.group(1)))
        lost = f"{int(num(one[4]) + num(two[4]))} / {int(num(one[5]) + num(two[5]))}"
        print(f"| {n} | {started(text)} | {commit(text)} | {load(text)} | {m.group(1)} ({m.group(2)}) | {one[6]} | {two[6]} "
              f"| {one[11]} / {two[11]} | {lost} |")
    print(f"\n2 / 1 processes, min – median – max over {len(ratios)} runs: {spread(ratios)}\n")


def booking_ab() -> None:
    print("#### Booking, before the move (8d826c2) and after, run alternately (ab_booking.sh)\n")
    print("| pair | side | start UTC | commit | load before → after | embedded created p50 / p99 | embedded first "
          "| Redis+PG created p50 / p99 | Redis+PG first | missing | server CPU s embedded / Redis+PG |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    figures: dict[str, dict[str, list[float]]] = {}
    done = []
    for path in sorted(DIR.glob("booking-ab-*-*.txt"), key=lambda p: (int(p.name.split("-")[2]), p.stat().st_mtime)):
        text = path.read_text()
        if "# rc=0;" not in text:
            continue
        pair, side = path.stem.split("-")[2:4]
        e = row(text, "embedded")
        r = row(text, "Redis + PostgreSQL")
        f = figures.setdefault(side, {"e99": [], "r99": [], "ecpu": [], "rcpu": []})
        f["e99"].append(num(e[7]))
        f["r99"].append(num(r[7]))
        f["ecpu"].append(num(e[12]))
        f["rcpu"].append(num(r[12]))
        missing = int(num(e[8]) + num(e[11]) + num(r[8]) + num(r[11]))
        done.append(side)
        print(f"| {pair} | {side} | {started(text)} | {commit(text)} | {load(text)} | {e[6]} / {e[7]} | {e[13]} "
              f"| {r[6]} / {r[7]} | {r[13]} | {missing} | {e[12]} / {r[12]} |")
    print()
    for side, f in figures.items():
        print(f"{side} ({len(f['e99'])} runs): created p99 embedded {spread(f['e99'], '{:.1f}')} ms, "
              f"Redis + PostgreSQL {spread(f['r99'], '{:.1f}')} ms; server CPU s embedded {spread(f['ecpu'], '{:.1f}')}, "
              f"Redis + PostgreSQL {spread(f['rcpu'], '{:.1f}')}  ")
    print()


if __name__ == "__main__":
    for part in (fanout, booking, booking_ab, held, scaleout):
        try:
            part()
        except (LookupError, AttributeError, KeyError) as exc:
            print(f"({part.__name__}: incomplete run output: {exc!r})\n")
