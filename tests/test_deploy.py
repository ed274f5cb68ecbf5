"""deploy/ and the graceful stop, without starting anything: the nginx site's rules that
the end-to-end tests rely on (tests/test_nginx_cluster.py runs it for real), its
rendering for ``make cluster``, the systemd unit, and serving.graceful.Draining."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from django.conf import settings

from devtools.cluster import SITE, main_conf, render_site
from serving.graceful import CODE, MESSAGE, Draining

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "systemd" / "medical-booking@.service"


def directives(text: str, name: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^\s*{name}\s+([^;{{]*);", text, re.M)]


def test_site_is_sticky_upgrades_websockets_and_outlasts_the_heartbeat():
    site = SITE.read_text()
    assert directives(site, "hash") == ["$remote_addr consistent"]
    headers = directives(site, "proxy_set_header")
    assert "Upgrade $http_upgrade" in headers and "Connection $connection_upgrade" in headers
    # Overwritten with the peer's address, never appended (daphne believes the first one).
    assert "X-Forwarded-For $remote_addr" in headers and "X-Forwarded-Proto $scheme" in headers
    assert "$proxy_add_x_forwarded_for" not in site
    (read,) = directives(site, "proxy_read_timeout")
    assert int(read.rstrip("s")) > settings.SOCKETIO_PING_INTERVAL + settings.SOCKETIO_PING_TIMEOUT
    assert directives(site, "proxy_buffering") == ["off"]
    assert not directives(site, "keepalive")  # see the comment in the site: graceful stops


def test_render_points_the_marked_lines_at_this_machine(tmp_path):
    out = render_site(SITE.read_text(), listen=18080, upstreams=[18001, 18002], static_root=tmp_path)
    assert directives(out, "listen") == ["127.0.0.1:18080"]
    assert directives(out, "server") == ["127.0.0.1:18001 max_fails=1 fail_timeout=5s",
                                         "127.0.0.1:18002 max_fails=1 fail_timeout=5s"]
    assert directives(out, "alias") == [f"{tmp_path}/"]
    # Everything else as deployed.
    unmarked = [ln for ln in SITE.read_text().splitlines() if "# cluster:" not in ln]
    assert [ln for ln in out.splitlines() if ln in unmarked] == unmarked
    one = render_site(SITE.read_text(), listen=1, upstreams=[2], static_root=tmp_path)
    assert directives(one, "server") == ["127.0.0.1:2 max_fails=1 fail_timeout=5s"]


def test_render_refuses_a_site_it_does_not_understand(tmp_path):
    with pytest.raises(ValueError, match="more asked"):
        render_site(SITE.read_text(), listen=1, upstreams=[2, 3, 4], static_root=tmp_path)
    without_listen = SITE.read_text().replace("# cluster: listen", "")
    with pytest.raises(ValueError, match="must mark"):
        render_site(without_listen, listen=1, upstreams=[2], static_root=tmp_path)
    with pytest.raises(ValueError, match="unknown cluster mark"):
        render_site("listen 80;  # cluster: elsewhere\n", listen=1, upstreams=[2], static_root=tmp_path)


def test_main_conf_keeps_everything_under_its_prefix(tmp_path):
    conf = main_conf(tmp_path, tmp_path / "site.conf")
    assert f"include {tmp_path / 'site.conf'};" in conf
    for path in directives(conf, "pid") + directives(conf, "error_log") + directives(conf, "access_log"):
        assert path.startswith(str(tmp_path)), path
    assert len([d for d in re.findall(r"(\w+_temp_path) (\S+);", conf) if d[1].startswith(str(tmp_path))]) == 5


def test_unit_binds_loopback_trusts_proxy_headers_and_outwaits_the_drain():
    unit = UNIT.read_text()
    (start,) = re.findall(r"^ExecStart=(.*)$", unit, re.M)
    assert "-b 127.0.0.1" in start and "--proxy-headers" in start and "-p %i" in start
    (stop,) = re.findall(r"^TimeoutStopSec=(\d+)$", unit, re.M)
    assert int(stop) > settings.SHUTDOWN_TIMEOUT_SECONDS
    assert re.search(r"^KillSignal=SIGTERM$", unit, re.M)


# --- serving.graceful.Draining ------------------------------------------------------------

def run_asgi(app, scope: dict) -> list[dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_draining_counts_requests_in_progress_and_passes_them_on():
    seen = []

    async def inner(scope, receive, send):
        seen.append((scope["type"], outer.in_flight))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    outer = Draining(inner, "/socket.io/")
    sent = run_asgi(outer, {"type": "http", "path": "/api/"})
    assert seen == [("http", 1)] and outer.in_flight == 0
    assert sent[0]["status"] == 200


def test_draining_sends_socketio_elsewhere_and_still_serves_the_rest():
    called = []

    async def inner(scope, receive, send):
        called.append(scope["path"])
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    outer = Draining(inner, "/socket.io/")
    outer.draining = True
    start, body = run_asgi(outer, {"type": "http", "path": "/socket.io/"})
    assert start["status"] == 503
    headers = dict(start["headers"])
    assert headers[b"connection"] == b"close" and headers[b"retry-after"] == b"1"
    assert json.loads(body["body"]) == {"code": CODE, "message": MESSAGE, "details": {}}
    (close,) = run_asgi(outer, {"type": "websocket", "path": "/socket.io/"})
    assert close == {"type": "websocket.close", "code": 1012}
    assert called == [] and outer.in_flight == 0
    # A request that reached a stopping process (queued, kept alive) is answered.
    start, _ = run_asgi(outer, {"type": "http", "path": "/api/rendezvous/"})
    assert start["status"] == 201 and called == ["/api/rendezvous/"] and outer.in_flight == 0


# --- serving.graceful: closing the listening ports ----------------------------------------

class FakePort:
    """What the drain uses of a Twisted tcp.Port: its socket, and stopListening."""

    def __init__(self, sock, events: list) -> None:
        self.socket, self.events = sock, events

    def stopListening(self) -> None:  # noqa: N802 - Twisted's name
        self.events.append("closed")
        if self.socket is not None:
            self.socket.close()


def test_the_ports_close_only_once_their_queue_was_taken_in():
    import socket

    from serving import graceful

    events: list = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    client = socket.create_connection(listener.getsockname(), timeout=5)
    client.sendall(b"POST")

    async def scenario():
        async def reactor():  # accepts a moment later, as a busy reactor would
            await asyncio.sleep(0.1)
            accepted, _ = listener.accept()
            events.append(("accepted", accepted.recv(8)))
            accepted.close()

        task = asyncio.ensure_future(reactor())
        held = await graceful._stop_accepting([FakePort(listener, events)])
        await task
        return held

    assert asyncio.run(scenario()) is True
    assert events == [("accepted", b"POST"), "closed"]
    client.close()


def test_without_a_socket_filter_the_ports_close_at_once(monkeypatch):
    from serving import graceful

    monkeypatch.setattr(graceful, "refuse_new_handshakes", lambda sock: False)
    events: list = []
    ports = [FakePort(None, events), FakePort(None, events)]
    assert asyncio.run(graceful._stop_accepting(ports)) is False
    assert events == ["closed", "closed"]
