"""What the access log (audit.JournalAcces) costs a request, measured in-process.

    .venv/bin/python bench/audit_cost.py [--bookings 300] [--lists 300] [--db sqlite|postgres]

Runs the whole Django request path (middleware, DRF, services, the event log) through
Django's test client, without sockets or a server: POST /api/rendezvous/ by a patient
(one access-log row) and GET /api/rendezvous/?page_size=50 by the doctor (one row per
patient on the page, one INSERT). Requests alternate between the access log on and off
(its two entry points replaced by no-ops in the "off" half), so a busy machine slows both
halves alike. Prints, per half, the median and p90 wall time per request, the median CPU
time of this process (SQLite runs in it; PostgreSQL's share is not counted) and the
queries. On a tree without the audit app it prints the plain figures. ``--db postgres``
uses a fresh database ``bench_audit_<hex>`` on BENCH_PG (default
postgres://postgres@127.0.0.1:5432), dropped at exit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bookings", type=int, default=300)
    p.add_argument("--lists", type=int, default=300)
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = p.parse_args()

    admin_url = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    dbname = f"bench_audit_{uuid.uuid4().hex[:8]}"
    if args.db == "postgres":
        import psycopg

        with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')
        os.environ["DATABASE_URL"] = f"{admin_url}/{dbname}"
    else:
        tmp = tempfile.mkdtemp(prefix="audit-cost-")
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medical_booking.settings")
    os.environ["FAST_PASSWORD_HASHER"] = "1"
    os.environ["REMINDERS_IN_SERVER"] = "0"
    sys.path.insert(0, str(ROOT))
    try:
        run(args)
    finally:
        if args.db == "postgres":
            from django.db import connections

            connections.close_all()
            import psycopg

            with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def run(args) -> None:
    import django

    django.setup()
    from datetime import timedelta

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import AccessToken

    from rendezvous.models import Cabinet, Creneau, Medecin, Role, User

    call_command("migrate", verbosity=0)
    cab = Cabinet.objects.create(nom="Bench", ville="Lyon")
    doc = User.objects.create_user("dr.bench@test.fr", "x" * 12, role=Role.MEDECIN, cabinet=cab)
    med = Medecin.objects.create(user=doc, cabinet=cab, specialite="MG")
    n = args.bookings + 1
    patients = [User.objects.create_user(f"p{i}@test.fr", "x" * 12, role=Role.PATIENT) for i in range(n)]
    base = timezone.now().replace(second=0, microsecond=0) + timedelta(days=2)
    slots = [Creneau.objects.create(medecin=med, debut=base + timedelta(minutes=15 * i),
                                    fin=base + timedelta(minutes=15 * (i + 1))) for i in range(n)]

    def client(user) -> Client:
        return Client(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}",
                      HTTP_USER_AGENT="bench/1.0")

    def timed(fn) -> tuple[float, float, int]:
        with CaptureQueriesContext(connection) as q:
            start, cpu = time.perf_counter(), time.process_time()
            response = fn()
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert response.status_code in (200, 201), (response.status_code, response.content[:200])
        return elapsed, cpu, len(q.captured_queries)

    try:
        import audit.journal as journal
        from rendezvous import services
    except ImportError:
        journal = None

    @contextmanager
    def log_off(off: bool):
        if not off or journal is None:
            yield
            return
        saved = services._journal, journal.lecture_rendezvous
        services._journal, journal.lecture_rendezvous = (lambda *a, **k: None), (lambda *a, **k: None)
        try:
            yield
        finally:
            services._journal, journal.lecture_rendezvous = saved

    def measure(i: int, fn):
        with log_off(journal is not None and i % 2 == 1):
            return (i % 2 == 1 and journal is not None, *timed(fn))

    clients = [client(p) for p in patients]
    # Warm-up booking (cold code paths), not measured.
    clients[0].post("/api/rendezvous/", {"creneau": slots[0].pk}, content_type="application/json")
    book = [measure(i, lambda i=i: clients[i].post("/api/rendezvous/", {"creneau": slots[i].pk},
                                                   content_type="application/json"))
            for i in range(1, n)]
    doctor = client(doc)
    doctor.get("/api/rendezvous/?page_size=50")
    lists = [measure(i, lambda: doctor.get("/api/rendezvous/?page_size=50")) for i in range(args.lists)]

    def line(name, rows, off):
        rows = [r[1:] for r in rows if r[0] == off]
        ms = sorted(t * 1000 for t, _, _ in rows)
        p90 = ms[int(len(ms) * 0.9) - 1]
        cpu = statistics.median(c * 1000 for _, c, _ in rows)
        queries = statistics.median(q for _, _, q in rows)
        log = "n/a" if journal is None else ("off" if off else "on")
        print(f"| {name} | {log} | {connection.vendor} | {len(ms)} | {statistics.median(ms):.2f} | {p90:.2f} "
              f"| {cpu:.2f} | {queries:.0f} |")

    print("| request | access log | db | n | median ms | p90 ms | median CPU ms (this process) | queries |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rows in (("POST /api/rendezvous/ (patient books)", book),
                       ("GET /api/rendezvous/?page_size=50 (doctor, 50 patients)", lists)):
        for off in ((False, True) if journal is not None else (False,)):
            line(name, rows, off)

if __name__ == "__main__":
    main()
