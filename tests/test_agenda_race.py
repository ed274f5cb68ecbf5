"""Generators racing on PostgreSQL, as real processes: each slot is created once.

Two ``manage.py generer_creneaux`` started together, and a live daphne whose scheduler
generates at start while the command runs, on a fresh PostgreSQL database with the demo
hours and no slot. To make sure they really race, the test holds ``LOCK TABLE
rendezvous_creneau IN SHARE MODE`` (reads pass, inserts wait) until both generators wait
on their first insert, then lets them go at the same moment: they insert the same slots
in the same order, and the exclusion constraint decides each one.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.live import PYTHON, ROOT, Server, free_port, manage, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

PARIS = ZoneInfo("Europe/Paris")
DONE = re.compile(r"(\d+) slot\(s\) created, (\d+) already taken by another writer, (\d+) doctor\(s\) with hours")

CHECK = """
import json
from django.db.models import Count
from realtime.models import Event
from rendezvous.models import Creneau
active = Creneau.objects.filter(actif=True)
dupes = active.values("medecin", "debut").annotate(n=Count("id")).filter(n__gt=1).count()
events = Event.objects.filter(name="creneau:available").values_list("data__id", flat=True)
print(json.dumps([active.count(), Creneau.objects.count(), dupes, len(events), len(set(events)),
                  set(events) == set(active.values_list("id", flat=True))]))
"""


@pytest.fixture
def fresh_db(tmp_path, requires_postgres):
    """A new PostgreSQL database: migrated, the demo practice and hours, no slot, no event."""
    env, cleanup = service_env(tmp_path, postgres=True, redis=False)
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "seed_demo")
        manage(env, "shell", "-c", "from rendezvous.models import Creneau; from realtime.models import Event; "
                                   "Creneau.objects.all().delete(); Event.objects.all().delete()")
        yield env
    finally:
        cleanup()


def _waiting_inserts(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'relation' "
        "AND relation = 'rendezvous_creneau'::regclass").fetchone()[0]


def _hold_inserts(env: dict) -> psycopg.Connection:
    conn = psycopg.connect(env["DATABASE_URL"])
    conn.execute("LOCK TABLE rendezvous_creneau IN SHARE MODE")  # in a transaction until commit
    return conn


def _wait_for_waiters(env: dict, count: int, procs: list, timeout: float = 60) -> None:
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as watcher:
        deadline = time.monotonic() + timeout
        while _waiting_inserts(watcher) < count:
            assert all(p.poll() is None for p in procs if p is not None), "a generator ended before racing"
            assert time.monotonic() < deadline, "the generators never reached their first insert"
            time.sleep(0.05)


def _command(env: dict) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "manage.py", "generer_creneaux"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen) -> tuple[int, int]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, (out, err)
    assert "Traceback" not in err and "Error" not in err, err
    created, ignored, doctors = map(int, DONE.search(out).groups())
    assert doctors == 2, out
    return created, ignored


def _check(env: dict) -> tuple[int, int, int, int, int, bool]:
    return tuple(json.loads(manage(env, "shell", "-c", CHECK).strip().splitlines()[-1]))


def test_two_commands_started_together_create_each_slot_once(fresh_db):
    env = fresh_db
    lock = _hold_inserts(env)
    procs = [_command(env), _command(env)]
    try:
        _wait_for_waiters(env, 2, procs)
    finally:
        lock.commit()  # both go at once
        lock.close()
    (a_created, a_ignored), (b_created, b_ignored) = (_result(p) for p in procs)
    active, total, dupes, events, distinct_events, same = _check(env)
    # Every slot exactly once, split between the two, each with its one event; the loser
    # of each slot skipped it (at least the first one, which both were waiting to insert).
    assert (dupes, total) == (0, active)
    assert a_created + b_created == active > 1000
    assert a_ignored + b_ignored >= 1
    assert (events, distinct_events, same) == (active, active, True)
    # Nothing was missed: a third run finds nothing to do.
    assert DONE.search(manage(env, "generer_creneaux")).groups()[:2] == ("0", "0")
    print(f"\nrace: {a_created}+{b_created} created, {a_ignored}+{b_ignored} skipped, {active} slots")


def test_the_server_s_scheduler_and_the_command_create_each_slot_once(fresh_db, tmp_path):
    env = {**fresh_db, "CRENEAUX_GENERATION_SECONDS": "3600", "REMINDERS_IN_SERVER": "0",
           "LOG_LEVEL": "INFO"}
    lock = _hold_inserts(env)
    server = Server(env=env, port=free_port(), log=tmp_path / "daphne.log")
    command = None
    try:
        server.start()  # its scheduler's first pass now waits on its first insert
        command = _command(env)
        _wait_for_waiters(env, 2, [command])
        lock.commit()
        lock.close()
        created, ignored = _result(command)
        deadline = time.monotonic() + 120
        while "slot generation:" not in server.log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        log = server.log.read_text()
    finally:
        if not lock.closed:
            lock.close()
        server.stop()
    found = re.search(r"slot generation: (\d+) created, (\d+) taken by another writer", log)
    assert found, log[-3000:]
    assert "Traceback" not in log and "failed" not in log, log[-3000:]
    server_created, server_ignored = map(int, found.groups())
    active, total, dupes, events, distinct_events, same = _check(env)
    assert (dupes, total) == (0, active)
    assert created + server_created == active > 1000
    assert ignored + server_ignored >= 1
    assert (events, distinct_events, same) == (active, active, True)
    print(f"\nscheduler {server_created} + command {created} created, {server_ignored}+{ignored} skipped")


def test_the_server_generates_again_on_its_interval(fresh_db, tmp_path):
    """Hours written behind the server's back (no API call) get their slots from the
    scheduler's next pass; the pass at start already made the demo doctors' slots."""
    env = {**fresh_db, "CRENEAUX_GENERATION_SECONDS": "1", "REMINDERS_IN_SERVER": "0"}
    server = Server(env=env, port=free_port(), log=tmp_path / "daphne.log").start()
    try:
        assert _wait_for_slots(env, "dr.martin@demo.fr", 500) >= 500
        manage(env, "shell", "-c", NEW_DOCTOR)
        # Monday 07:00-08:00 in Paris: each Monday of the next 56 days, today's if still ahead.
        now = datetime.now(PARIS)
        mondays = [now.date() + timedelta(days=d) for d in range(56)
                   if (now.date() + timedelta(days=d)).weekday() == 0]
        expected = len([d for d in mondays if d != now.date() or now.time() < dtime(7)])
        assert _wait_for_slots(env, "dr.nouveau@demo.fr", expected) == expected
        time.sleep(2)  # two more passes: nothing more
        assert _wait_for_slots(env, "dr.nouveau@demo.fr", expected) == expected
    finally:
        server.stop()
    assert "Traceback" not in server.log.read_text()


NEW_DOCTOR = """
from rendezvous.models import Cabinet, Horaire, Medecin, Role, User
u = User.objects.create_user("dr.nouveau@demo.fr", "x-Passw0rd-x", role=Role.MEDECIN, cabinet=Cabinet.objects.get())
m = Medecin.objects.create(user=u, cabinet=u.cabinet, specialite="Dermatologie")
Horaire.objects.create(medecin=m, jour=0, debut="07:00", fin="08:00", duree_minutes=60)
"""

COUNT = """
from rendezvous.models import Creneau
print(Creneau.objects.filter(medecin__user__email={email!r}, actif=True, genere=True).count())
"""


def _wait_for_slots(env: dict, email: str, at_least: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while True:
        count = int(manage(env, "shell", "-c", COUNT.format(email=email)).strip().splitlines()[-1])
        if count >= at_least or time.monotonic() > deadline:
            return count
        time.sleep(0.5)
