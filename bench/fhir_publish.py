"""The published slot file (SMART Scheduling Links, publication/): time and bytes for
10,000 free slots, a full answer and a 304, through a real daphne process.

    .venv/bin/python bench/fhir_publish.py [--slots 10000] [--runs 7] [--db sqlite,postgres]

Per database: a fresh one (SQLite file; PostgreSQL on BENCH_PG with Redis on
BENCH_REDIS, the production mode, so the cache behind Last-Modified is Redis), 50 doctors
in 20 practices, ``--slots`` free slots within the 8-week horizon plus 10% more booked
(which the file must leave out), ANALYZE, then one daphne process. Each run asks, over HTTP on
loopback with Python's ``http.client``: GET /fhir/Slot.ndjson (200, the whole body
read: wall time to the last byte, bytes, lines), the same gzipped (``Accept-Encoding:
gzip``, bytes on the wire), with ``If-None-Match`` (304),
with ``If-Modified-Since`` (304), and the manifest (200 then 304). The server's CPU per
request is read from /proc. The first request after the start is reported apart
(imports, first connection). ``--db postgres`` is skipped unless DATABASE_URL or
BENCH_PG is set. Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))

import common  # noqa: E402  (puts the project root on the path)

DOCTORS, PRACTICES = 50, 20


def seed(slots: int) -> None:
    """Runs in a child process with the run's DATABASE_URL: the practices, doctors, slots."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medical_booking.settings")
    django.setup()
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from rendezvous.models import Cabinet, Creneau, Medecin, RendezVous, Role, StatutRendezVous, User

    with transaction.atomic():
        cabinets = Cabinet.objects.bulk_create([
            Cabinet(nom=f"Cabinet {i}", adresse=f"{i} rue de la Paix", ville="Lyon", code_postal=f"{69001 + i % 9}",
                    telephone=f"04 78 00 00 {i:02d}", timezone="Europe/Paris") for i in range(PRACTICES)])
        medecins = []
        for i in range(DOCTORS):
            user = User.objects.create_user(email=f"medecin{i}@bench.fr", password=None, role=Role.MEDECIN,
                                            cabinet=cabinets[i % PRACTICES], first_name=f"Prénom{i}",
                                            last_name=f"Nom{i}")
            medecins.append(Medecin(user=user, cabinet=cabinets[i % PRACTICES],
                                    specialite="Médecine générale" if i % 2 else "Pédiatrie"))
        Medecin.objects.bulk_create(medecins)
        patient = User.objects.create_user(email="patient@bench.fr", password=None, role=Role.PATIENT)
        booked = slots // 10
        per_doctor = -(-(slots + booked) // DOCTORS)
        start = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=1)
        step = timedelta(weeks=7) / per_doctor  # all within the 8-week horizon
        rows = [Creneau(medecin=m, debut=start + k * step, fin=start + k * step + timedelta(minutes=20))
                for k in range(per_doctor) for m in medecins][: slots + booked]
        created = Creneau.objects.bulk_create(rows, batch_size=2000)
        RendezVous.objects.bulk_create([
            RendezVous(patient=patient, creneau=c, statut=StatutRendezVous.CONFIRME, confirme_at=timezone.now())
            for c in created[:booked]], batch_size=2000)
    # Planner statistics, as PostgreSQL's autovacuum takes them within a minute of a bulk
    # insert: without them it plans the free-slot query as a nested-loop anti join
    # (1.2-1.9 s for 11,000 slots, measured) instead of a hash anti join (~25 ms).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def get(port: int, path: str, headers: dict | None = None) -> tuple[int, float, int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    t = time.perf_counter()
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - t) * 1000
    conn.close()
    return response.status, elapsed, len(body), {"etag": response.getheader("ETag"),
                                                 "last_modified": response.getheader("Last-Modified"),
                                                 "lines": body.count(b"\n")}


def measure(port: int, pid: int, path: str, headers: dict | None, expect: int) -> dict:
    cpu = common.cpu_seconds(pid)
    status, ms, size, meta = get(port, path, headers)
    if status != expect:
        raise RuntimeError(f"{path} {headers}: {status}, expected {expect}")
    return {"ms": ms, "bytes": size, "cpu_ms": (common.cpu_seconds(pid) - cpu) * 1000, **meta}


def bench_db(db: str, slots: int, runs: int) -> list[list]:
    env = common.project_env("embedded" if db == "sqlite" else "redis")
    env["THROTTLE_FHIR_PUBLICATION"] = "1000000/min"
    t = time.monotonic()
    common.manage(env, "migrate", "--noinput")
    subprocess.run([common.PY, __file__, "--seed", str(slots)], cwd=common.ROOT, env={**os.environ, **env},
                   check=True, timeout=900)
    common.log(f"{db}: database ready in {time.monotonic() - t:.1f}s")
    proc, port = common.start_daphne(env, name=f"daphne-{db}")
    try:
        first = measure(port, proc.pid, "/fhir/Slot.ndjson", None, 200)
        if first["lines"] != slots:
            raise RuntimeError(f"{first['lines']} slots published, {slots} expected")
        full, packed, by_etag, by_date, man, man304 = [], [], [], [], [], []
        for _ in range(runs):
            full.append(measure(port, proc.pid, "/fhir/Slot.ndjson", None, 200))
            packed.append(measure(port, proc.pid, "/fhir/Slot.ndjson", {"Accept-Encoding": "gzip"}, 200))
            etag, last_modified = full[-1]["etag"], full[-1]["last_modified"]
            by_etag.append(measure(port, proc.pid, "/fhir/Slot.ndjson", {"If-None-Match": etag}, 304))
            by_date.append(measure(port, proc.pid, "/fhir/Slot.ndjson", {"If-Modified-Since": last_modified}, 304))
            man.append(measure(port, proc.pid, "/fhir/$bulk-publish", None, 200))
            man304.append(measure(port, proc.pid, "/fhir/$bulk-publish", {"If-None-Match": man[-1]["etag"]}, 304))
    finally:
        common.stop(proc)

    def row(label: str, samples: list[dict]) -> list:
        ms = [s["ms"] for s in samples]
        cpu = [s["cpu_ms"] for s in samples]
        return [f"{db}: {label}", len(samples), statistics.median(ms), min(ms), max(ms),
                statistics.median(cpu), samples[0]["bytes"]]

    return [row("Slot.ndjson, first after start", [first]), row("Slot.ndjson 200", full),
            row("Slot.ndjson 200, gzip", packed),
            row("Slot.ndjson 304 (If-None-Match)", by_etag), row("Slot.ndjson 304 (If-Modified-Since)", by_date),
            row("$bulk-publish 200", man), row("$bulk-publish 304", man304)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--slots", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--db", default="sqlite,postgres")
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.seed is not None:
        seed(args.seed)
        return
    dbs = [db.strip() for db in args.db.split(",") if db.strip()]
    if "postgres" in dbs and not (os.environ.get("DATABASE_URL", "").startswith("postgres")
                                  or os.environ.get("BENCH_PG")):
        common.log("postgres skipped: set DATABASE_URL (PostgreSQL) or BENCH_PG")
        dbs.remove("postgres")
    rows = []
    for db in dbs:
        rows += bench_db(db, args.slots, args.runs)
    print(common.machine())
    print(f"{args.slots:,} free slots (+{args.slots // 10:,} booked, left out), {DOCTORS} doctors, "
          f"{PRACTICES} practices; one daphne process; loopback HTTP")
    print(common.table(["request", "n", "p50 ms", "min ms", "max ms", "server CPU ms (p50)", "bytes"], rows))


if __name__ == "__main__":
    main()
