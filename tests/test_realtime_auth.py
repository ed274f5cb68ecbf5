"""Connection authentication: the seed's two refusals, word for word, and expiry."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from .live import http, login
from .rt import Party, Recorder

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

REQUIRED = "Token d'authentification requis"
INVALID = "Token invalide"

MINT = """
import json, time
from datetime import timedelta
from realtime.auth import RevocableAccessToken
from rendezvous.models import User

chloe = User.objects.get(email="chloe@demo.fr")
expired = RevocableAccessToken.for_user(chloe)
expired.set_exp(lifetime=timedelta(seconds=-30))
short = RevocableAccessToken.for_user(chloe)
short.set_exp(lifetime=timedelta(seconds={short}))
User.objects.filter(email="{inactive}").update(is_active=False)
User.objects.filter(email="{deleted}").delete()
print(json.dumps({{"expired": str(expired), "short": str(short), "short_exp": short["exp"]}}))
"""


def register(url: str) -> tuple[str, dict]:
    email = f"rt-{uuid.uuid4().hex[:10]}@example.org"
    status, body = http("POST", f"{url}/api/auth/register/",
                        {"email": email, "password": "Str0ng-pass-phrase"})
    assert status == 201, body
    status, tokens = http("POST", f"{url}/api/auth/token/",
                          {"email": email, "password": "Str0ng-pass-phrase"})
    assert status == 200, tokens
    return email, tokens


@pytest.fixture(scope="module")
def minted(live):
    """Tokens the API cannot hand out: expired, short-lived, of inactive/deleted users."""
    inactive, inactive_tokens = register(live.url)
    deleted, deleted_tokens = register(live.url)
    out = json.loads(live.manage("shell", "-c", MINT.format(short=4, inactive=inactive, deleted=deleted))
                     .strip().splitlines()[-1])
    out["inactive"] = inactive_tokens["access"]
    out["deleted"] = deleted_tokens["access"]
    return out


async def refusal(url: str, **kwargs) -> str | None:
    client = Recorder("probe")
    try:
        return await client.try_connect(url, **kwargs)
    finally:
        await client.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("auth", [None, {}, {"token": ""}, {"token": "   "}, {"other": "x"}])
async def test_no_token_is_refused_with_the_seed_message(live, auth, transport):
    client = Recorder("probe", [transport])
    try:
        assert await client.try_connect(live.url, auth=auth) == REQUIRED
        assert not client.sio.connected
    finally:
        await client.close()


async def test_bad_tokens_are_refused_as_invalid(live, minted):
    tokens = login(live.url, "bob@demo.fr")
    access = tokens["access"]
    head, payload, signature = access.split(".")
    tampered_signature = f"{head}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    cases = {
        "garbage": "not-a-jwt",
        "three garbage parts": "abc.def.ghi",
        "tampered signature": tampered_signature,
        "huge": "x" * 10_000,
        "refresh token": tokens["refresh"],
        "expired": minted["expired"],
        "inactive user": minted["inactive"],
        "deleted user": minted["deleted"],
    }
    for name, token in cases.items():
        assert await refusal(live.url, token=token) == INVALID, name
    # Not a string at all.
    for auth in ({"token": 12345}, {"token": ["a", "b"]}, {"token": {"nested": True}}):
        assert await refusal(live.url, auth=auth) == INVALID, auth
    # And the genuine token still works.
    assert await refusal(live.url, token=access) is None


async def test_token_blacklisted_by_logout_is_refused(live):
    tokens = login(live.url, "chloe@demo.fr")
    assert await refusal(live.url, token=tokens["access"]) is None
    status, body = http("POST", f"{live.url}/api/auth/logout/", {"refresh": tokens["refresh"]},
                        token=tokens["access"])
    assert status == 205, body
    assert await refusal(live.url, token=tokens["access"]) == INVALID
    assert await refusal(live.url, token=tokens["refresh"]) == INVALID


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_authorization_bearer_header_opens_a_socket(live, transport):
    party = Party(live.url)
    token = party.token("bob")
    client = Recorder("bob-header", [transport])
    try:
        await client.connect(live.url, headers={"Authorization": f"Bearer {token}"})
        assert client.sio.connected
        party.clients["bob-header"] = client
        status, event = party.api("admin", "POST", "notifications/broadcast/",
                                  {"message": "pour bob", "user": party.id("bob")})
        assert status == 201, event
        await client.wait_for("notification:general", lambda p: p["eventId"] == event["id"])
    finally:
        await client.close()
    # A bad header is refused like a bad auth token.
    assert await refusal(live.url, headers={"Authorization": "Bearer nope"}) == INVALID
    assert await refusal(live.url, headers={"Authorization": "Basic Ym9iOmRlbW8="}) == REQUIRED


async def test_socket_is_disconnected_when_its_token_expires(live, minted):
    client = Recorder("short")
    other = Recorder("bob")
    party = Party(live.url)
    try:
        await client.connect(live.url, minted["short"])
        await other.connect(live.url, party.token("bob"))
        assert client.sio.connected
        deadline = minted["short_exp"]
        assert time.time() < deadline, "token expired before the socket connected"
        # Client-sent events named like lifecycle events must not reset the socket's
        # state (and cancel its expiry): they are unknown events.
        for name in ("disconnect", "connect"):
            ack = await client.call(name, {"HTTP_AUTHORIZATION": "Bearer x"})
            assert ack["message"] == "Événement inconnu" and ack["data"] == {"event": name}, ack
        ack = await client.call("join-room", "role:PATIENT")
        assert ack["type"] == "success", ack
        while client.sio.connected and time.time() < deadline + 5:
            await client.sio.sleep(0.05)
        gone = time.time()
        assert not client.sio.connected, "socket outlived its token"
        assert client.disconnects
        # At expiry (1 s slack for the exp claim's whole seconds and scheduling), not before.
        assert deadline - 1.0 <= gone <= deadline + 2.0, (deadline, gone)
        # The same token cannot reconnect, and other sockets are untouched.
        again = Recorder("short-again")
        assert await again.try_connect(live.url, token=minted["short"]) == INVALID
        await again.close()
        assert other.sio.connected
        party.clients["bob"] = other
        await party.barrier([other])
    finally:
        await client.close()
        await other.close()
