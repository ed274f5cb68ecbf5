"""Operations, in process: /healthz, /readyz (each check failing in turn), /metrics access
rules, the counters, the request middleware and the JSON log formatter.

Live servers (sockets, Redis away, JSON lines on stdout): tests/test_operations_live.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from devtools.net import free_port
from medical_booking.settings import _check_networks
from operations import health, metrics
from operations.collectors import room_count
from operations.jsonlog import JsonFormatter
from realtime import catalogue, scheduler
from realtime.events import send_events
from rendezvous import services
from rendezvous.reminders import reminder_backlog, send_due_reminders

from . import factories as f
from .helpers import fast_hashers  # noqa: F401  (fixture)

OUTSIDER = "203.0.113.7"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- /healthz ------------------------------------------------------------------------------

def test_healthz_answers_ok_without_the_database(client):
    # No django_db mark: any database access here raises (pytest-django's blocker).
    response = client.get("/healthz", REMOTE_ADDR=OUTSIDER)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_refuses_other_methods_with_json(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


# --- /readyz -------------------------------------------------------------------------------

@pytest.mark.django_db
def test_readyz_ok_outside_a_serving_process(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["bus"] == {"ok": True, "backend": "redis" if settings.REDIS_URL else "memory"}
    # No socket server in this process: the schedulers do not run here, by design.
    assert body["checks"]["reminder_scheduler"] == {"ok": True, "running": False}
    assert body["checks"]["slot_generation"] == {"ok": True, "running": False}
    assert body["checks"]["hold_scheduler"] == {"ok": True, "running": False}


@pytest.mark.django_db
def test_readyz_names_a_failing_database(client, monkeypatch):
    def refused():
        raise OperationalError("connection to server at 10.1.2.3 refused")

    monkeypatch.setattr(health, "_select_one", refused)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "service_non_pret" and body["status"] == "degraded"
    assert "base de données" in body["message"]
    assert body["checks"]["database"] == {
        "ok": False, "error": "OperationalError: connection to server at 10.1.2.3 refused"}
    assert body["checks"]["bus"]["ok"] is True
    # A client that may not read /metrics learns what failed, not where it lives.
    public = client.get("/readyz", REMOTE_ADDR=OUTSIDER).json()
    assert public["checks"]["database"] == {"ok": False, "error": "OperationalError"}


@pytest.mark.django_db
def test_readyz_gives_up_on_a_hung_database_and_does_not_queue_behind_it(client, monkeypatch, settings):
    settings.READYZ_TIMEOUT = 0.2
    release = threading.Event()
    monkeypatch.setattr(health, "_select_one", lambda: release.wait(30))
    try:
        first = client.get("/readyz")
        assert first.status_code == 503
        assert first.json()["checks"]["database"] == {"ok": False, "error": "pas de réponse en 0.2 s"}
        second = client.get("/readyz")
        assert second.status_code == 503
        assert second.json()["checks"]["database"]["error"] == "la vérification précédente attend encore la base"
    finally:
        release.set()
    health._db_pending.result(timeout=10)
    monkeypatch.undo()
    # The database answers again; a loaded machine may take longer than 0.2 s to say so.
    settings.READYZ_TIMEOUT = 10
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_readyz_names_an_unreachable_redis(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nobody listens there
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert "bus (Redis)" in body["message"]
    assert body["checks"]["bus"]["ok"] is False and body["checks"]["bus"]["backend"] == "redis"
    assert body["checks"]["bus"]["error"].startswith("ConnectionError")
    assert body["checks"]["database"] == {"ok": True}


@pytest.mark.django_db
def test_readyz_names_a_stuck_scheduler(client, monkeypatch):
    monkeypatch.setattr(health, "bus", SimpleNamespace(attached=True))  # a serving process
    now = health.time.monotonic()
    monkeypatch.setattr(scheduler, "heartbeats", {
        scheduler.REMINDERS: (now - 91, 30.0),  # three intervals and a second ago
        scheduler.GENERATION: (now - 10, 3600.0),
        scheduler.RETENUES: (now - 1, 5.0),
    })
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["message"] == "Service pas prêt : planificateur des rappels"
    reminders = body["checks"]["reminder_scheduler"]
    assert reminders["ok"] is False and reminders["interval_seconds"] == 30.0
    assert reminders["error"].startswith("aucun tour depuis 9")
    assert body["checks"]["slot_generation"]["ok"] is True
    assert body["checks"]["hold_scheduler"]["ok"] is True


@pytest.mark.django_db
def test_readyz_names_a_stuck_hold_scheduler(client, monkeypatch, settings):
    settings.RETENUES_INTERVAL_SECONDES = 5
    monkeypatch.setattr(health, "bus", SimpleNamespace(attached=True))
    now = health.time.monotonic()
    monkeypatch.setattr(scheduler, "heartbeats", {
        scheduler.REMINDERS: (now - 1, 30.0),
        scheduler.GENERATION: (now - 1, 3600.0),
        scheduler.RETENUES: (now - 16, 5.0),  # three intervals and a second ago
    })
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "service_non_pret" and body["status"] == "degraded"
    assert body["message"] == "Service pas prêt : planificateur des retenues"
    holds = body["checks"]["hold_scheduler"]
    assert holds["ok"] is False and holds["interval_seconds"] == 5.0
    assert holds["error"].startswith("aucun tour depuis 16 s (plus de 3 × 5 s)")
    assert body["checks"]["reminder_scheduler"]["ok"] is True
    assert body["checks"]["slot_generation"]["ok"] is True


@pytest.mark.django_db
def test_readyz_names_a_hold_scheduler_never_started_in_a_serving_process(client, monkeypatch, settings):
    settings.RETENUES_INTERVAL_SECONDES = 5
    monkeypatch.setattr(health, "bus", SimpleNamespace(attached=True))
    now = health.time.monotonic()
    monkeypatch.setattr(scheduler, "heartbeats", {scheduler.REMINDERS: (now, 30.0),
                                                  scheduler.GENERATION: (now, 3600.0)})
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["hold_scheduler"] == {"ok": False, "error": "planificateur non démarré"}


@pytest.mark.django_db
def test_readyz_hold_scheduler_off_by_configuration_is_ready(client, monkeypatch, settings):
    # RETENUES_INTERVAL_SECONDES=0: cron runs ``manage.py expirer_retenues``; a serving
    # process with no beat of it is then no fault.
    settings.RETENUES_INTERVAL_SECONDES = 0
    monkeypatch.setattr(health, "bus", SimpleNamespace(attached=True))
    now = health.time.monotonic()
    monkeypatch.setattr(scheduler, "heartbeats", {scheduler.REMINDERS: (now, 30.0),
                                                  scheduler.GENERATION: (now, 3600.0)})
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["hold_scheduler"] == {"ok": True, "enabled": False}


async def test_the_hold_scheduler_beats_at_every_turn_even_after_a_failing_pass(monkeypatch, settings):
    from attente import scheduler as holds

    settings.RETENUES_INTERVAL_SECONDES = 0.05
    monkeypatch.setattr(scheduler, "heartbeats", {})
    turns = []

    def passe():
        turns.append(scheduler.heartbeats[scheduler.RETENUES])
        raise RuntimeError("database away")  # logged; the loop goes on

    monkeypatch.setattr(holds, "passe", passe)
    monkeypatch.setattr(holds, "_task", None)
    holds.start_retenues()
    try:
        assert scheduler.heartbeats[scheduler.RETENUES][1] == 0.05  # beats at start already
        for _ in range(200):
            if len(turns) >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        holds._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await holds._task
    assert len(turns) >= 3
    assert turns[0][0] < turns[1][0] < turns[2][0]  # a fresh beat before each pass
    last = scheduler.heartbeats[scheduler.RETENUES][0]
    state = health.check_schedulers(now=last + 0.1)[scheduler.RETENUES]
    assert state == {"ok": True, "last_beat_seconds": 0.1, "interval_seconds": 0.05}


def test_the_hold_scheduler_does_not_start_when_off(monkeypatch, settings):
    from attente import scheduler as holds

    settings.RETENUES_INTERVAL_SECONDES = 0
    monkeypatch.setattr(scheduler, "heartbeats", {})
    monkeypatch.setattr(holds, "_task", None)
    holds.start_retenues()  # no running loop needed: nothing starts
    assert holds._task is None and scheduler.heartbeats == {}


@pytest.mark.parametrize(("enabled", "beat", "serving", "expected"), [
    (False, None, True, {"ok": True, "enabled": False}),
    (True, None, False, {"ok": True, "running": False}),
    (True, None, True, {"ok": False, "error": "planificateur non démarré"}),
    (True, (1000.0, 30.0), True, {"ok": True, "last_beat_seconds": 90.0, "interval_seconds": 30.0}),
])
def test_scheduler_state(enabled, beat, serving, expected):
    assert health.scheduler_state("x", enabled, beat, serving, now=1090.0) == expected


def test_scheduler_state_past_three_intervals_is_not_alive():
    state = health.scheduler_state("x", True, (1000.0, 30.0), True, now=1090.5)
    assert state["ok"] is False


def test_readyz_reports_disabled_schedulers(settings):
    settings.REMINDERS_IN_SERVER = False
    settings.CRENEAUX_GENERATION_SECONDS = 0
    settings.RETENUES_INTERVAL_SECONDES = 0
    assert health.check_schedulers() == {"reminder_scheduler": {"ok": True, "enabled": False},
                                         "slot_generation": {"ok": True, "enabled": False},
                                         "hold_scheduler": {"ok": True, "enabled": False}}


# --- /metrics access -----------------------------------------------------------------------

@pytest.mark.django_db
def test_metrics_from_loopback_is_prometheus_text(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {"realtime_sockets_connected", "realtime_rooms", "realtime_events_published",
            "realtime_events_delivered", "realtime_event_delivery_lag_seconds",
            "http_request_duration_seconds", "reminders_due_unsent"} <= names


@pytest.mark.django_db
def test_metrics_ipv6_loopback_and_mapped_ipv4_are_allowed(client):
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:127.0.0.1").status_code == 200


def test_metrics_refuses_other_addresses_with_json(client):
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDER)
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "metriques_interdites"
    assert "METRICS_ALLOWED_IPS" in body["message"]
    assert b"realtime_" not in response.content


def test_metrics_ignores_x_forwarded_for_without_trusted_proxies(client):
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert response.status_code == 403


@pytest.mark.django_db
def test_metrics_behind_a_trusted_proxy_uses_the_address_it_saw(client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # The proxy (on loopback) forwards an outside client: refused.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR=OUTSIDER).status_code == 403
    # The proxy forwards a client inside the allowed networks: allowed.
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.4.5.6").status_code == 200


@pytest.mark.django_db
def test_metrics_allowed_networks(client, settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "2001:db8::/32"]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="2001:db8::5").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="11.0.0.1").status_code == 403


@pytest.mark.django_db
def test_metrics_token(client, settings):
    settings.METRICS_TOKEN = "jeton-de-supervision-0123456789"
    ok = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}")
    assert ok.status_code == 200
    for header in ("Bearer jeton-faux", f"Basic {settings.METRICS_TOKEN}", "Bearer ", ""):
        response = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION=header)
        assert response.status_code == 403, header
        assert response.json()["code"] == "metriques_interdites"


def test_metrics_empty_token_accepts_no_bearer(client, settings):
    settings.METRICS_TOKEN = ""
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403


def test_metrics_disabled(client, settings):
    settings.METRICS_ENABLED = False
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.json()["code"] == "metriques_desactivees"
    before = sample("realtime_events_published_total", event="test:off")
    metrics.count_published(["test:off"])
    metrics.count_delivered("test:off", 3)
    assert sample("realtime_events_published_total", event="test:off") == before
    assert sample("realtime_events_delivered_total", event="test:off") == 0


def test_allowed_ips_setting_is_checked_at_start():
    _check_networks(["127.0.0.1", "::1", "10.0.0.0/8", "192.168.1.0/24"])
    with pytest.raises(ImproperlyConfigured, match="METRICS_ALLOWED_IPS"):
        _check_networks(["127.0.0.1", "localhost"])


# --- counters and gauges -------------------------------------------------------------------

@pytest.mark.django_db
def test_published_counts_after_commit_only(django_capture_on_commit_callbacks):
    name = catalogue.NOTIFICATION_GENERAL.name
    before = sample("realtime_events_published_total", event=name)
    emissions = catalogue.broadcast_events("test", "info", ["role:nobody"], {"role": None})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send_events(emissions + emissions)
    assert sample("realtime_events_published_total", event=name) == before  # not committed yet
    for callback in callbacks:
        callback()
    assert sample("realtime_events_published_total", event=name) == before + 2


def test_delivery_lag_from_emitted_at():
    before = sample("realtime_event_delivery_lag_seconds_count", event="test:lag")
    le_5 = sample("realtime_event_delivery_lag_seconds_bucket", event="test:lag", le="5.0")
    le_2 = sample("realtime_event_delivery_lag_seconds_bucket", event="test:lag", le="2.5")
    emitted = (timezone.now() - timedelta(seconds=3)).isoformat()
    metrics.observe_delivery({"event": "test:lag", "data": [{"eventId": 1, "emittedAt": emitted}]})
    metrics.observe_delivery({"event": "test:lag", "data": ["not an event payload"]})  # ignored
    assert sample("realtime_event_delivery_lag_seconds_count", event="test:lag") == before + 1
    assert sample("realtime_event_delivery_lag_seconds_bucket", event="test:lag", le="5.0") == le_5 + 1
    assert sample("realtime_event_delivery_lag_seconds_bucket", event="test:lag", le="2.5") == le_2  # 3 s late
    assert sample("realtime_event_delivery_lag_seconds_sum", event="test:lag") >= 3.0


@pytest.mark.django_db
def test_reminder_backlog_counts_due_unsent_bookings(client):
    med, pat = f.medecin(), f.patient()
    rdv = services.book_creneau(patient=pat, creneau=f.creneau(med, debut=f.future(48)), motif="contrôle")
    services.confirm_rendezvous(acteur=med.user, rdv=rdv)
    rdv.refresh_from_db()
    debut = rdv.creneau.debut
    assert reminder_backlog(debut - timedelta(hours=25)) == 0
    assert reminder_backlog(debut - timedelta(hours=23)) == 1
    assert send_due_reminders(debut - timedelta(hours=23)) == 1
    assert reminder_backlog(debut - timedelta(hours=23)) == 0
    assert reminder_backlog(debut - timedelta(minutes=30)) == 1  # the 1 h one is due now
    # At scrape time (now): the booking is 48 h ahead, nothing due.
    families = {fam.name: fam for fam in text_string_to_metric_families(client.get("/metrics").content.decode())}
    assert families["reminders_due_unsent"].samples[0].value == 0


# --- the request middleware and the logs ---------------------------------------------------

@pytest.mark.django_db
def test_request_histogram_labels_the_route_not_the_path(client):
    def count(route: str, status: str) -> float:
        return sample("http_request_duration_seconds_count", method="GET", route=route, status=status)

    detail = "/api/rendezvous/<id:pk>/"
    before = count(detail, "4xx"), count("<unmatched>", "4xx"), count("/healthz", "2xx")
    client.get("/api/rendezvous/12/")
    client.get("/api/rendezvous/13/")
    client.get("/nulle-part")
    client.get("/healthz")
    assert (count(detail, "4xx"), count("<unmatched>", "4xx"), count("/healthz", "2xx")) == \
        (before[0] + 2, before[1] + 1, before[2] + 1)
    assert sample("http_request_duration_seconds_count", method="GET", route="/api/rendezvous/12/",
                  status="4xx") == 0


@pytest.mark.django_db
def test_one_access_line_per_request_with_request_id_and_user(client, caplog):
    user = f.patient()
    with caplog.at_level(logging.INFO, logger="access"):
        response = client.get("/api/me/", HTTP_AUTHORIZATION=f"Bearer {f.access(user)}")
        anonymous = client.get("/api/me/")
    assert response.status_code == 200 and anonymous.status_code == 401
    lines = [r for r in caplog.records if r.name == "access"]
    assert len(lines) == 2
    first, second = lines[0].http, lines[1].http
    assert first["request_id"] == response["X-Request-ID"] and len(first["request_id"]) == 32
    assert (first["user_id"], first["method"], first["route"], first["status"]) == (user.pk, "GET", "/api/me/", 200)
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert (second["user_id"], second["status"], second["request_id"]) == (None, 401, anonymous["X-Request-ID"])


def test_json_formatter_lines():
    formatter = JsonFormatter()
    record = logging.LogRecord("access", logging.INFO, __file__, 1, "GET %s", ("/healthz",), None)
    record.http = {"request_id": "abc", "user_id": 7, "method": "GET", "route": "/healthz", "status": 200,
                   "duration_ms": 1.5}
    line = json.loads(formatter.format(record))
    assert line["message"] == "GET /healthz" and line["level"] == "INFO" and line["logger"] == "access"
    assert {k: line[k] for k in record.http} == record.http
    assert line["time"].endswith("+00:00")
    try:
        raise ValueError("boom\nsur deux lignes")
    except ValueError:
        import sys

        error = logging.LogRecord("x", logging.ERROR, __file__, 1, "échec", (), sys.exc_info())
    text = formatter.format(error)
    assert "\n" not in text  # one line, whatever the traceback
    assert "ValueError: boom" in json.loads(text)["exception"]


def test_room_count_leaves_out_the_namespace_and_per_socket_rooms():
    assert room_count({}) == 0
    rooms = {None: {"a": "ea", "b": "eb"}, "a": {"a": "ea"}, "b": {"b": "eb"},
             "user:1": {"a": "ea"}, "user:2": {"b": "eb"}, "role:PATIENT": {"a": "ea", "b": "eb"}}
    assert room_count(rooms) == 3


@pytest.mark.django_db
def test_outbox_backlog_by_status(client):
    from django.apps import apps

    if not apps.is_installed("outbox"):
        pytest.skip("no outbox app in this tree")
    envoi = apps.get_model("outbox", "Envoi")

    def backlog() -> dict[str, float]:
        text = client.get("/metrics").content.decode()
        family = next(fam for fam in text_string_to_metric_families(text) if fam.name == "outbox_backlog")
        return {s.labels["statut"]: s.value for s in family.samples}

    before = backlog()
    assert set(before) == {"A_ENVOYER", "ECHEC"}
    for i, statut in enumerate(["A_ENVOYER", "A_ENVOYER", "ECHEC", "ENVOYE"]):
        envoi.objects.create(canal="EMAIL", destinataire=f"x{i}@example.fr", type="test", texte="t",
                             cle=f"test:metrics:{i}", statut=statut,
                             envoye_at=timezone.now() if statut == "ENVOYE" else None)
    assert backlog() == {"A_ENVOYER": before["A_ENVOYER"] + 2, "ECHEC": before["ECHEC"] + 1}
