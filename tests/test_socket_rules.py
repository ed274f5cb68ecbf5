"""Socket.IO rules that must match REST's: the origin allow-list only, the ``Bearer``
scheme as simplejwt reads it, and room names matched whole."""

from __future__ import annotations

import http.client as httpc
from urllib.parse import urlsplit

import aiohttp
import pytest

from .live import http
from .rt import Party, Recorder

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

REQUIRED = "Token d'authentification requis"
INVALID = "Token invalide"
FORBIDDEN = {"type": "error", "message": "Accès refusé à cette room", "code": "room_interdite"}


def handshake(url: str, headers: dict) -> tuple[int, str]:
    """An Engine.IO polling handshake with exactly these headers (Host included)."""
    parts = urlsplit(url)
    conn = httpc.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", "/socket.io/?EIO=4&transport=polling", headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


async def test_origin_is_checked_against_the_allow_list_only(live):
    server = live.servers[0]
    own = urlsplit(live.url).netloc
    # A foreign page that sets Host to its own name no longer passes (the old rule let any
    # Origin equal to Host through).
    for origin, host in [("http://evil.example", "evil.example"),
                         ("https://evil.example:8443", "evil.example:8443"),
                         (f"http://{own}.evil.example", f"{own}.evil.example")]:
        status, body = handshake(live.url, {"Host": host, "Origin": origin})
        assert status == 400 and "not an accepted origin" in body, (origin, status, body)
    # Equal to the real Host but not in the list: refused too.
    status, body = handshake(live.url, {"Host": own, "Origin": f"https://{own}"})
    assert status == 400, (status, body)
    # The server's own pages (in its CORS_ALLOWED_ORIGINS), and clients without Origin.
    for origin in server.origins:
        status, body = handshake(live.url, {"Host": own, "Origin": origin})
        assert status == 200 and body.startswith("0{"), (origin, status, body)
    status, body = handshake(live.url, {"Host": own})
    assert status == 200 and body.startswith("0{"), (status, body)

    # Over a websocket too: the upgrade is refused for a foreign origin, and a full
    # Socket.IO connection works from an allowed one.
    ws_url = live.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(ws_url, headers={"Host": "evil.example", "Origin": "http://evil.example"})
        assert refused.value.status == 403  # daphne's answer to a websocket the app closes
        async with session.ws_connect(ws_url, headers={"Origin": server.origins[1]}) as ws:
            opened = await ws.receive(timeout=5)
            assert opened.data.startswith("0{"), opened
    party = Party(live.url)
    client = Recorder("origin-ok")
    try:
        await client.connect(live.url, party.token("bob"), headers={"Origin": server.origins[0]})
        assert client.sio.connected
    finally:
        await client.close()


async def refusal(url: str, **kwargs) -> str | None:
    client = Recorder("probe")
    try:
        return await client.try_connect(url, **kwargs)
    finally:
        await client.close()


async def test_authorization_scheme_is_read_as_rest_reads_it(live):
    party = Party(live.url)
    token = party.token("chloe")
    me = f"{live.url}/api/me/"
    cases = [
        # header, REST status, REST code, socket refusal (None: accepted)
        (f"Bearer {token}", 200, None, None),
        (f"Bearer   {token}  ", 200, None, None),
        (f"bearer {token}", 401, "not_authenticated", REQUIRED),
        (f"BEARER {token}", 401, "not_authenticated", REQUIRED),
        (f"JWT {token}", 401, "not_authenticated", REQUIRED),
        ("Bearer", 401, "authentication_failed", INVALID),
        (f"Bearer {token} extra", 401, "authentication_failed", INVALID),
    ]
    for header, status, code, socket_answer in cases:
        got, body = http("GET", me, headers={"Authorization": header})
        assert got == status, (header[:20], got, body)
        if code:
            assert body["code"] == code, (header[:20], body)
        assert await refusal(live.url, headers={"Authorization": header}) == socket_answer, header[:20]


async def test_room_names_are_matched_whole(live):
    party = Party(live.url)
    try:
        (alice,) = await party.connect("alice")
        conv = party.conversation("alice", "martin")
        doctor = party.id("martin")
        for room in [f"conversation:{conv}\n", f"conversation:{conv}\r\n", f"creneaux:{doctor}\n",
                     f"\nconversation:{conv}", f"conversation:{conv}\x00"]:
            ack = await alice.call("join-room", room)
            assert ack == {**FORBIDDEN, "data": {"room": room}}, (repr(room), ack)
        for room in [f"conversation:{conv}", f"creneaux:{doctor}"]:
            ack = await alice.call("join-room", room)
            assert ack == {"type": "success", "message": "Room rejointe", "data": {"room": room}}, ack
        # The real room gets the conversation's messages.
        status, msg = party.api("martin", "POST", f"conversations/{conv}/messages/", {"contenu": "entier"})
        assert status == 201, msg
        found = await alice.wait_for("message:new", lambda p: p["data"]["id"] == msg["id"])
        assert found[0]["data"]["contenu"] == "entier"
    finally:
        await party.close()
