"""The outbox with real processes: two ``manage.py send_outbox`` racing on PostgreSQL send
each message once; a live server's worker sends the e-mail of a booking made over HTTP.

The SMTP server is aiosmtpd, in this test process.
"""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from collections import Counter

import icalendar
import psycopg
import pytest

from tests.live import PYTHON, ROOT, http, login, manage, service_env, start_stack

from .conftest import has_postgres
from .smtp import Handler, ics_of, smtp_server, text_of

pytestmark = pytest.mark.e2e

ROWS = 60
MAKE_ROWS = f"""
from outbox.models import Envoi
Envoi.objects.bulk_create([
    Envoi(canal="EMAIL", destinataire=f"p{{i}}@test.fr", sujet=f"Message {{i}}", texte="Bonjour",
          type="essai", cle=f"essai:{{i}}:EMAIL") for i in range({ROWS})])
"""
DONE = re.compile(r"(\d+) sent, (\d+) to retry, (\d+) failed")


def _waiting_claims(conn: psycopg.Connection) -> int:
    return conn.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'relation' "
        "AND relation = 'outbox_envoi'::regclass").fetchone()[0]


def test_two_send_outbox_processes_send_each_message_once(tmp_path, requires_postgres):
    env, cleanup = service_env(tmp_path, postgres=True, redis=False)
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "shell", "-c", MAKE_ROWS)
        with smtp_server(Handler(delay=0.01)) as (controller, handler):
            env = {**env, "EMAIL_HOST": controller.hostname, "EMAIL_PORT": str(controller.port),
                   "OUTBOX_BATCH": "5", "LOG_LEVEL": "WARNING"}
            # Both senders wait on their first claim (FOR UPDATE needs ROW SHARE; the test
            # holds EXCLUSIVE), then go at the same moment.
            lock = psycopg.connect(env["DATABASE_URL"])
            lock.execute("LOCK TABLE outbox_envoi IN EXCLUSIVE MODE")
            procs = [subprocess.Popen([PYTHON, "manage.py", "send_outbox"], cwd=ROOT, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for _ in range(2)]
            try:
                with psycopg.connect(env["DATABASE_URL"], autocommit=True) as watcher:
                    deadline = time.monotonic() + 60
                    while _waiting_claims(watcher) < 2:
                        assert all(p.poll() is None for p in procs), "a sender ended before racing"
                        assert time.monotonic() < deadline, "the senders never reached their claim"
                        time.sleep(0.05)
            finally:
                lock.commit()
                lock.close()
            results = []
            for p in procs:
                out, err = p.communicate(timeout=120)
                assert p.returncode == 0, (out, err)
                results.append(tuple(map(int, DONE.search(out).groups())))
            received = handler.wait_for(ROWS, timeout=5)
        keys = Counter(message["X-Outbox-Cle"] for _, message in received)
        assert len(received) == ROWS and set(keys.values()) == {1}, keys.most_common(3)
        assert sum(r[0] for r in results) == ROWS and all(r[1:] == (0, 0) for r in results), results
        assert all(r[0] > 0 for r in results), f"one sender did everything: {results}"  # they did race
        left = manage(env, "shell", "-c", "from outbox.models import Envoi; "
                                          "print(Envoi.objects.exclude(statut='ENVOYE').count())")
        assert left.strip().splitlines()[-1] == "0"
        print(f"\nsenders: {results[0][0]} + {results[1][0]} messages")
    finally:
        cleanup()


def test_the_server_s_worker_emails_the_patient_right_after_a_live_booking(tmp_path):
    with smtp_server() as (controller, handler):
        stack = start_stack(tmp_path, postgres=has_postgres(), extra_env={
            "EMAIL_HOST": controller.hostname, "EMAIL_PORT": str(controller.port),
            # An hour between passes: the e-mail goes at once because the booking's commit
            # wakes the sender (outbox/reveil.py).
            "OUTBOX_INTERVAL_SECONDS": "3600", "CRENEAUX_GENERATION_SECONDS": "0",
        })
        try:
            alice = login(stack.url, "alice@demo.fr")["access"]
            status, slots = http("GET", f"{stack.url}/api/creneaux/?disponible=true&page_size=1", token=alice)
            assert status == 200 and slots["results"], slots
            slot = slots["results"][0]
            status, rdv = http("POST", f"{stack.url}/api/rendezvous/", {"creneau": slot["id"]}, token=alice)
            assert status == 201, rdv
            mails = []
            deadline = time.monotonic() + 15
            while not mails and time.monotonic() < deadline:
                mails = [m for m in handler.wait_for(1, timeout=1) if m[0] == ["alice@demo.fr"]
                         and m[1]["X-Outbox-Cle"].startswith(f"rendezvous:created:{rdv['id']}:")]
            assert mails, "no e-mail reached the SMTP server"
            message = mails[0][1]
            assert message["Subject"] == "Votre rendez-vous est enregistré"
            assert "Bonjour Alice" in text_of(message)
            cal = icalendar.Calendar.from_ical(ics_of(message))
            [event] = cal.walk("VEVENT")
            assert cal["METHOD"] == "REQUEST" and str(event["UID"]).startswith(f"rendezvous-{rdv['id']}@")
            # Its .ics from the API is the same entry.
            request = urllib.request.Request(f"{stack.url}/api/rendezvous/{rdv['id']}/ics/",
                                             headers={"Authorization": f"Bearer {alice}"})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.headers["Content-Type"].startswith("text/calendar")
                api = icalendar.Calendar.from_ical(response.read())
            assert api.walk("VEVENT")[0]["UID"] == event["UID"]
        finally:
            stack.close()
        log = stack.servers[0].log.read_text()
        assert "Traceback" not in log, log[-3000:]
