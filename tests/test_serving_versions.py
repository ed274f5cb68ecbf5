"""serving/versions.py: every patch group checks the exact upstream version, warns once, stays off.

The in-process tests exercise the check itself; the subprocess ones import the real ASGI
module (``medical_booking/asgi.py``, as daphne does) with ``SERVING_PRETEND_VERSIONS``
and look at what was installed and what the libraries' classes hold afterwards.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from serving import versions

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_checks(monkeypatch):
    monkeypatch.delenv(versions.PRETEND_ENV, raising=False)
    versions.forget()
    yield
    versions.forget()


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "serving" and r.levelno == logging.WARNING]


def test_the_installed_versions_are_the_ones_written_for(caplog):
    with caplog.at_level(logging.WARNING, logger="serving"):
        for dist in versions.WRITTEN_FOR:
            assert versions.written_for(f"group-{dist}", dist, where="here") is True
    assert warnings_of(caplog) == []


@pytest.mark.parametrize("other", ["4.15.10", "4.15", "4.15.1.post1", "4.15.1rc1", "5.0.0", "4.15.0"])
def test_any_other_version_is_refused_with_one_line_naming_both(monkeypatch, caplog, other):
    monkeypatch.setenv(versions.PRETEND_ENV, f"python-engineio={other}")
    with caplog.at_level(logging.WARNING, logger="serving"):
        assert versions.written_for("ENGINEIO_LEAN_SOCKETS", "python-engineio", where="serving/transport.py") is False
    assert warnings_of(caplog) == [
        f"ENGINEIO_LEAN_SOCKETS skipped: written for python-engineio==4.15.1, found python-engineio {other}; "
        "the library's own code runs (serving/transport.py)"]


def test_a_group_warns_once_however_often_it_is_asked(monkeypatch, caplog):
    monkeypatch.setenv(versions.PRETEND_ENV, "*=0")
    with caplog.at_level(logging.WARNING, logger="serving"):
        results = [versions.written_for("DAPHNE_FAST_WS_SEND", "autobahn", "txaio", "daphne", where="x")
                   for _ in range(3)]
        assert versions.written_for("DAPHNE_SLIM_QUEUES", "daphne", where="y") is False
    assert results == [False, False, False]
    lines = warnings_of(caplog)
    assert len(lines) == 2
    assert lines[0].startswith("DAPHNE_FAST_WS_SEND skipped: written for autobahn==26.10.2, txaio==26.6.1, "
                               "daphne==4.2.3, found autobahn 0, txaio 0, daphne 0;")
    assert lines[1].startswith("DAPHNE_SLIM_QUEUES skipped: written for daphne==4.2.3, found daphne 0;")


def test_only_the_mismatched_distributions_are_named(monkeypatch, caplog):
    monkeypatch.setenv(versions.PRETEND_ENV, "txaio=26.7.0")
    with caplog.at_level(logging.WARNING, logger="serving"):
        assert versions.written_for("DAPHNE_FAST_WS_SEND", "autobahn", "txaio", "daphne", where="x") is False
    (line,) = warnings_of(caplog)
    assert ", found txaio 26.7.0;" in line


def test_a_missing_distribution_is_another_version(monkeypatch, caplog):
    monkeypatch.setitem(versions.WRITTEN_FOR, "no-such-distribution-here", "1.0")
    with caplog.at_level(logging.WARNING, logger="serving"):
        assert versions.written_for("G", "no-such-distribution-here", where="x") is False
    (line,) = warnings_of(caplog)
    assert "found no-such-distribution-here (not installed)" in line


def test_pretending_the_right_version_passes(monkeypatch):
    monkeypatch.setenv(versions.PRETEND_ENV, "Twisted=26.10.0, daphne = 9")  # names are case-insensitive
    assert versions.found("twisted") == "26.10.0"
    assert versions.written_for("DAPHNE_EAGER_WRITES", "Twisted", where="x") is True
    assert versions.written_for("DAPHNE_SLIM_QUEUES", "daphne", where="x") is False


# ---- the real start-up, in a subprocess ------------------------------------------------

START = """
import sys
import daphne.cli  # what `python -m daphne` imports before the application
import medical_booking.asgi as asgi
import serving
from django.conf import settings
serving.install(settings)  # a second time: nothing new, no second warning

import json
from engineio import async_server, async_socket
from engineio.async_drivers import asgi as eio_asgi
from twisted.internet import tcp
from daphne.http_protocol import WebRequest
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol
import pprint
from autobahn import util as ab_util
from autobahn.websocket import protocol as ab_protocol

own = {
    "AsyncSocket.poll": async_socket.AsyncSocket.poll.__module__ == "engineio.async_socket",
    "AsyncSocket.send": async_socket.AsyncSocket.send.__module__ == "engineio.async_socket",
    "AsyncSocket._websocket_handler":
        async_socket.AsyncSocket._websocket_handler.__module__ == "engineio.async_socket",
    "AsyncSocket.send_nowait": not hasattr(async_socket.AsyncSocket, "send_nowait"),
    "AsyncServer.create_queue": async_server.AsyncServer.create_queue.__module__ == "engineio.async_server",
    "translate_request": eio_asgi._async["translate_request"] is eio_asgi.translate_request,
    "tcp.Server.write": "write" not in vars(tcp.Server),
    "sendData": "sendData" not in vars(WebSocketProtocol),
    "Server.application_checker": Server.application_checker.__module__ == "daphne.server",
    "Server.create_application": Server.create_application.__module__ == "daphne.server",
    "WebRequest.process": WebRequest.process.__module__ == "daphne.http_protocol",
    "autobahn log arguments": ab_protocol.pformat is pprint.pformat and ab_protocol.hltype is ab_util.hltype,
}
print(json.dumps(sorted(serving.installed())))
print(type(asgi.django_app).__module__ + "." + type(asgi.django_app).__name__)
print(json.dumps(sorted(name for name, stock in own.items() if not stock)))
"""


def start_up(tmp_path, pretend: str) -> tuple[list, str, list, list[str]]:
    """(installed groups, Django's handler class, patched attributes, warning lines)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPHNE_", "ENGINEIO_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "medical_booking.settings", "REDIS_URL": "",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'start.sqlite3'}", "REMINDERS_IN_SERVER": "0",
                "LOG_LEVEL": "WARNING", versions.PRETEND_ENV: pretend})
    out = subprocess.run([sys.executable, "-c", START], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    installed, handler, patched = out.stdout.splitlines()
    warnings = [line for line in out.stderr.splitlines() if " skipped: written for " in line]
    return json.loads(installed), handler, json.loads(patched), warnings


@pytest.mark.e2e  # a subprocess
def test_every_group_stays_off_on_other_versions_with_one_warning_each(tmp_path):
    installed, handler, patched, warnings = start_up(tmp_path, "*=0")
    assert (installed, handler, patched) == ([], "django.core.handlers.asgi.ASGIHandler", [])
    groups = sorted(line.split(" skipped: ")[0] for line in warnings)
    assert groups == sorted([
        "engine.io packet fixes (always on)", "ENGINEIO_LEAN_SOCKETS", "python-socketio overrides (always on)",
        "DAPHNE_EAGER_WRITES", "DAPHNE_FAST_WS_SEND", "DAPHNE_LEAN_APP_CHECKER", "DAPHNE_SLIM_QUEUES",
        "DAPHNE_RELEASE_UPGRADE_REQUEST", "DAPHNE_LAZY_LOG_ARGS",
        "one-hop request handler (REQUEST_THREADS, AUTH_REQUEST_THREADS)",
    ]), warnings


@pytest.mark.e2e  # a subprocess
def test_the_written_for_versions_install_everything_silently(tmp_path):
    installed, handler, patched, warnings = start_up(tmp_path, "")
    assert installed == sorted([
        "eager_writes", "engineio_fixes", "fast_ws_send", "lazy_log_args", "lean_app_checker", "lean_sockets",
        "one_frame_delivery", "one_hop_handler", "release_upgrade_request", "slim_queues", "socketio_overrides"])
    assert handler == "serving.handlers.OneHopASGIHandler"
    assert patched == sorted([
        "AsyncServer.create_queue", "AsyncSocket._websocket_handler", "AsyncSocket.poll", "AsyncSocket.send",
        "AsyncSocket.send_nowait", "Server.application_checker", "autobahn log arguments",
        "Server.create_application", "WebRequest.process",
        "sendData", "tcp.Server.write", "translate_request"])
    assert warnings == []


@pytest.mark.e2e  # a subprocess
def test_one_upgraded_library_turns_off_only_what_depends_on_it(tmp_path):
    installed, _, _, warnings = start_up(tmp_path, "python-engineio=4.16.0")
    assert "engineio_fixes" not in installed and "lean_sockets" not in installed
    assert "one_frame_delivery" not in installed  # it writes into engine.io's sockets
    assert {"socketio_overrides", "one_hop_handler", "eager_writes", "slim_queues"} <= set(installed)
    assert [line.split(" skipped: ")[0] for line in warnings] == [
        "engine.io packet fixes (always on)", "ENGINEIO_LEAN_SOCKETS"]
    assert "found python-engineio 4.16.0" in warnings[0]


IMPORT_ONLY = """
import django
django.setup()
import realtime.asgi, realtime.manager, realtime.server  # what tests and commands import
import serving
from engineio import async_server, async_socket
from engineio.async_drivers import asgi as eio_asgi
print(sorted(serving.installed()),
      async_socket.AsyncSocket.poll.__module__, async_socket.AsyncSocket._websocket_handler.__module__,
      async_server.AsyncServer._service_task.__module__, hasattr(async_socket.AsyncSocket, "send_nowait"),
      eio_asgi._async["translate_request"] is eio_asgi.translate_request)
"""


@pytest.mark.e2e  # a subprocess
def test_importing_realtime_installs_nothing(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "medical_booking.settings", "REDIS_URL": "",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'import.sqlite3'}"}
    env.pop(versions.PRETEND_ENV, None)
    out = subprocess.run([sys.executable, "-c", IMPORT_ONLY], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "engineio.async_socket", "engineio.async_socket", "engineio.async_server",
                                  "False", "True"]
    assert " skipped: " not in out.stderr
