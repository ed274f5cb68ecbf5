"""Logout, deactivation and a password change close the user's open sockets on every
server at once (a revocation published on the bus), and their tokens are refused from
then on: REST and sockets, two servers on PostgreSQL + Redis, and the embedded mode.

Each test measures the time from the revoking action to each socket's disconnect and
prints it (``-s``); the assertion bound is deliberately generous (the machine is shared).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
import urllib.request
import uuid
from http.cookiejar import CookieJar

import pytest
import socketio

from .live import http, login
from .rt import Party, Recorder

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

INVALID = "Token invalide"
PASSWORD = "Str0ng-pass-phrase"
BOUND_SECONDS = 5.0  # generous; the figure measured is printed


def register(url: str) -> tuple[str, int]:
    email = f"revoke-{uuid.uuid4().hex[:10]}@example.org"
    status, body = http("POST", f"{url}/api/auth/register/", {"email": email, "password": PASSWORD})
    assert status == 201, body
    return email, body["id"]


class Admin:
    """A Django admin session over HTTP (login form, CSRF), as a super admin uses it."""

    def __init__(self, base: str, email: str = "admin@demo.fr", password: str = "demo1234") -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        page = self.get("/admin/login/")
        status, _ = self.post("/admin/login/", {"username": email, "password": password, "next": "/admin/"}, page)
        assert status == 200 and "logout" in self.get("/admin/"), "admin login failed"

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as resp:
            return resp.read().decode()

    def post(self, path: str, fields: dict, page: str) -> tuple[int, str]:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        data = urllib.parse.urlencode({**fields, "csrfmiddlewaretoken": token}, doseq=True).encode()
        request = urllib.request.Request(self.base + path, data=data, headers={"Referer": self.base + path})
        with self.opener.open(request, timeout=30) as resp:
            return resp.status, resp.read().decode()

    def deactivate(self, user_id: int, email: str) -> None:
        path = f"/admin/rendezvous/user/{user_id}/change/"
        status, html = self.post(path, {
            "email": email, "first_name": "", "last_name": "", "telephone": "", "role": "PATIENT",
            "cabinet": "", "groups": [], "user_permissions": [], "_save": "Enregistrer",
        }, self.get(path))
        assert status == 200 and "errornote" not in html, html[:3000]

    def change_password(self, user_id: int, password: str) -> None:
        path = f"/admin/rendezvous/user/{user_id}/password/"
        status, html = self.post(path, {"password1": password, "password2": password,
                                        "usable_password": "true"}, self.get(path))
        assert status == 200 and "errornote" not in html, html[:3000]


async def connect(url: str, token: str, name: str) -> Recorder:
    client = Recorder(name)
    await client.connect(url, token)
    return client


async def wait_disconnected(clients: list[Recorder], started: float) -> list[float]:
    """Each client's disconnect, in seconds after ``started`` (monotonic)."""
    deadline = time.monotonic() + 10
    while not all(c.disconnects for c in clients):
        assert time.monotonic() < deadline, [c.name for c in clients if not c.disconnects]
        await asyncio.sleep(0.005)
    return [c.disconnects[0][0] - started for c in clients]


def report(what: str, latencies: list[float]) -> None:
    print(f"\n[revocation] {what}: sockets closed after "
          + ", ".join(f"{x * 1000:.0f} ms" for x in latencies))
    assert max(latencies) < BOUND_SECONDS, latencies


async def still_served(party: Party, clients: list[Recorder], url: str) -> None:
    """Untouched sockets are connected and still get a broadcast."""
    for c in clients:
        assert c.sio.connected and not c.disconnects, c.name
    await party.barrier(clients, url=url)


async def closed_everywhere(clients: list[Recorder]) -> None:
    for c in clients:
        # a Socket.IO DISCONNECT from the server, not a lost transport: clients do not reconnect
        assert c.disconnects[0][1] == socketio.AsyncClient.reason.SERVER_DISCONNECT, (c.name, c.disconnects)
        assert not c.sio.connected


async def refused(url: str, token: str) -> None:
    probe = Recorder("probe")
    try:
        assert await probe.try_connect(url, token=token) == INVALID
    finally:
        await probe.close()
    status, body = http("GET", f"{url}/api/me/", token=token)
    assert status == 401, body


async def scenario(urls: list[str], revoke, what: str, *, sessions_survive: bool) -> None:
    """User U has two sessions (A revoked, B another device) with sockets on every server;
    user V's sockets must not move."""
    party = Party(urls[0])
    email, user_id = register(urls[0])
    a, b = login(urls[0], email, PASSWORD), login(urls[-1], email, PASSWORD)
    a_again = http("POST", f"{urls[0]}/api/auth/token/refresh/", {"refresh": a["refresh"]})[1]
    other_email, _ = register(urls[0])
    v = login(urls[0], other_email, PASSWORD)
    clients_a, clients_b, clients_v = [], [], []
    try:
        for i, url in enumerate(urls):
            clients_a.append(await connect(url, a["access"], f"A@{i}"))
            clients_a.append(await connect(url, a_again["access"], f"A'@{i}"))
            clients_b.append(await connect(url, b["access"], f"B@{i}"))
            clients_v.append(await connect(url, v["access"], f"V@{i}"))
        closing = clients_a + ([] if sessions_survive else clients_b)
        staying = clients_v + (clients_b if sessions_survive else [])
        started = time.monotonic()
        commit_wall = await asyncio.to_thread(revoke, a_again, user_id, email)
        latencies = await wait_disconnected(closing, started)
        if commit_wall is not None:  # measured from the commit in the other process
            now_wall, now_mono = time.time(), time.monotonic()
            latencies = [c.disconnects[0][0] - (now_mono - (now_wall - commit_wall)) for c in closing]
        report(what, latencies)
        await closed_everywhere(closing)
        await still_served(party, staying, urls[-1])
        # The old tokens are refused by every server, REST and sockets.
        for url in urls:
            for token in (a["access"], a_again["access"]) + (() if sessions_survive else (b["access"],)):
                await refused(url, token)
        if sessions_survive:
            status, _ = http("GET", f"{urls[-1]}/api/me/", token=b["access"])
            assert status == 200
    finally:
        await asyncio.gather(*(c.close() for c in clients_a + clients_b + clients_v))
        await party.close()


def logout_via(url: str):
    def revoke(tokens: dict, user_id: int, email: str) -> None:
        status, body = http("POST", f"{url}/api/auth/logout/", {"refresh": tokens["refresh"]},
                            token=tokens["access"])
        assert status == 205, body
    return revoke


def admin_via(url: str, action: str):
    admin = Admin(url)

    def revoke(tokens: dict, user_id: int, email: str) -> None:
        if action == "deactivate":
            admin.deactivate(user_id, email)
        else:
            admin.change_password(user_id, "N0uveau-mot-de-passe")
    return revoke


SHELL = """
import json, time
from rendezvous.models import User
user = User.objects.get(pk={user_id})
{change}
user.save()
print(json.dumps({{"committed": time.time()}}))
"""


def shell_via(stack, change: str):
    def revoke(tokens: dict, user_id: int, email: str) -> float:
        out = stack.manage("shell", "-c", SHELL.format(user_id=user_id, change=change))
        return json.loads(out.strip().splitlines()[-1])["committed"]
    return revoke


# ---- two servers (PostgreSQL + Redis) -------------------------------------------------------

@pytest.mark.redis
@pytest.mark.postgres
async def test_logout_closes_that_sessions_sockets_on_both_servers(cluster):
    urls = [s.url for s in cluster.servers]
    await scenario(urls, logout_via(urls[1]), "logout (2 servers)", sessions_survive=True)


@pytest.mark.redis
@pytest.mark.postgres
async def test_deactivation_in_the_admin_closes_every_socket_of_the_user(cluster):
    urls = [s.url for s in cluster.servers]
    await scenario(urls, admin_via(urls[0], "deactivate"), "admin deactivation (2 servers)",
                   sessions_survive=False)


@pytest.mark.redis
@pytest.mark.postgres
async def test_password_change_in_another_process_closes_every_socket_of_the_user(cluster):
    urls = [s.url for s in cluster.servers]
    await scenario(urls, shell_via(cluster, 'user.set_password("N0uveau-mot-de-passe")'),
                   "password change from manage.py (2 servers, from its commit)", sessions_survive=False)


@pytest.mark.redis
@pytest.mark.postgres
async def test_deactivation_in_another_process_closes_every_socket_of_the_user(cluster):
    urls = [s.url for s in cluster.servers]
    await scenario(urls, shell_via(cluster, "user.is_active = False"),
                   "deactivation from manage.py (2 servers, from its commit)", sessions_survive=False)


# ---- embedded (one server, in-memory layer) -------------------------------------------------

async def test_logout_closes_that_sessions_sockets_embedded(live):
    await scenario([live.url], logout_via(live.url), "logout (embedded)", sessions_survive=True)


async def test_deactivation_closes_every_socket_embedded(live):
    await scenario([live.url], admin_via(live.url, "deactivate"), "admin deactivation (embedded)",
                   sessions_survive=False)


async def test_password_change_closes_every_socket_embedded(live):
    await scenario([live.url], admin_via(live.url, "password"), "admin password change (embedded)",
                   sessions_survive=False)


async def test_a_token_issued_after_a_password_change_connects_at_once(live):
    """The revocation closes the old sockets; it must not refuse, for REVOCATION_MEMORY_SECONDS,
    the socket of the log-in that follows (a user who just chose a new password)."""
    email, user_id = register(live.url)
    old = login(live.url, email, PASSWORD)
    client = await connect(live.url, old["access"], "old")
    try:
        started = time.monotonic()
        admin_via(live.url, "password")(old, user_id, email)
        await wait_disconnected([client], started)
        await closed_everywhere([client])
        fresh = login(live.url, email, "N0uveau-mot-de-passe")
        again = await connect(live.url, fresh["access"], "fresh")  # the old code refused it
        await again.close()
        await refused(live.url, old["access"])
    finally:
        await client.close()
