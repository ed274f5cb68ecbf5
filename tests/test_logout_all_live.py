"""Log out everywhere and a password change over the API (issue 14, item 3), end to end:
a user's sockets on both servers (PostgreSQL + Redis) close within a second, their old
tokens (refresh included) are refused by both servers, another user's sockets stay — and
the session that follows (a new log-in, or the pair a password change returns) opens its
sockets at once on both servers and keeps them.

In-process checks of the same endpoints: tests/test_api_mon_compte.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from .live import http, login
from .rt import Party, Recorder
from .test_socket_revocation import (
    PASSWORD,
    closed_everywhere,
    connect,
    refused,
    register,
    report,
    still_served,
    wait_disconnected,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

NEW_PASSWORD = "Un-n0uveau-mot-de-passe"
ONE_SECOND = 1.0


async def sockets_of(urls: list[str], tokens: list[dict], name: str) -> list[Recorder]:
    """One socket per (server, session)."""
    return [await connect(url, t["access"], f"{name}{j}@{i}")
            for i, url in enumerate(urls) for j, t in enumerate(tokens)]


async def stays_connected(clients: list[Recorder], seconds: float) -> None:
    """Still connected after ``seconds`` (a revocation arriving late must not close them)."""
    await asyncio.sleep(seconds)
    for c in clients:
        assert c.sio.connected and not c.disconnects, (c.name, c.disconnects)


async def run(urls: list[str], action: str) -> None:
    party = Party(urls[0])
    email, user_id = register(urls[0])
    sessions = [login(urls[0], email, PASSWORD), login(urls[-1], email, PASSWORD)]
    other_email, _ = register(urls[0])
    other = login(urls[-1], other_email, PASSWORD)
    mine = await sockets_of(urls, sessions, "U")
    theirs = await sockets_of(urls, [other], "V")
    after: list[Recorder] = []
    try:
        started = time.monotonic()
        if action == "logout-all":
            status, body = await asyncio.to_thread(http, "POST", f"{urls[-1]}/api/auth/logout-all/",
                                                   token=sessions[0]["access"])
            assert (status, body["code"]) == (200, "sessions_fermees"), body
        else:
            status, body = await asyncio.to_thread(
                http, "POST", f"{urls[-1]}/api/me/password/",
                {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, token=sessions[0]["access"])
            assert (status, body["code"]) == (200, "mot_de_passe_modifie"), body
        report(f"{action} ({len(urls)} server(s))", await wait_disconnected(mine, started))
        await closed_everywhere(mine)
        # Every old token is refused by every server: access (REST and socket), refresh.
        for url in urls:
            for tokens in sessions:
                await refused(url, tokens["access"])
                status, data = http("POST", f"{url}/api/auth/token/refresh/", {"refresh": tokens["refresh"]})
                assert (status, data["code"]) == (401, "token_not_valid"), data
        await still_served(party, theirs, urls[-1])
        # What follows works at once, on every server, and stays: a new log-in after
        # logout-all, the returned pair after a password change.
        fresh = (login(urls[0], email, PASSWORD) if action == "logout-all" else
                 {"access": body["access"], "refresh": body["refresh"]})
        after = await sockets_of(urls, [fresh], "U'")
        await stays_connected(after, 2 * ONE_SECOND)
        await still_served(party, after, urls[0])
        status, me = http("GET", f"{urls[-1]}/api/me/", token=fresh["access"])
        assert (status, me["id"]) == (200, user_id)
        status, _ = http("POST", f"{urls[0]}/api/auth/token/refresh/", {"refresh": fresh["refresh"]})
        assert status == 200
    finally:
        await asyncio.gather(*(c.close() for c in mine + theirs + after))
        await party.close()


@pytest.mark.redis
@pytest.mark.postgres
async def test_logout_all_closes_every_socket_on_both_servers(cluster):
    await run([s.url for s in cluster.servers], "logout-all")


@pytest.mark.redis
@pytest.mark.postgres
async def test_password_change_closes_every_socket_and_the_new_pair_connects_at_once(cluster):
    await run([s.url for s in cluster.servers], "password")


async def test_logout_all_embedded(live):
    await run([live.url], "logout-all")


async def test_password_change_embedded(live):
    await run([live.url], "password")
