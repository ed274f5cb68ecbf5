"""Rooms: automatic rooms per role, join/leave authorization, bad input, floods."""

from __future__ import annotations

import asyncio
import time

import pytest

from .rt import Party

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

FORBIDDEN = {"type": "error", "message": "Accès refusé à cette room", "code": "room_interdite"}
INVALID = {"type": "error", "message": "Nom de room invalide", "code": "room_invalide"}
AUTOMATIC = {"type": "error", "message": "Impossible de quitter une room automatique",
             "code": "room_automatique"}
RATE = {"type": "error", "message": "Trop de requêtes, réessayez dans un instant",
        "code": "trop_de_requetes"}


@pytest.fixture
async def party(live):
    party = Party(live.url)
    yield party
    await party.close()


def is_error(ack: dict, expected: dict) -> bool:
    return isinstance(ack, dict) and all(ack.get(k) == v for k, v in expected.items()) and "data" in ack


def cabinet_of(party: Party) -> int:
    party.token("secretariat")
    return party.me["secretariat"]["cabinet"]


async def test_automatic_rooms_per_role(party):
    await party.connect("alice", "martin", "secretariat", "admin")
    cab = cabinet_of(party)
    ids = {w: party.id(w) for w in ("alice", "bob", "martin", "secretariat", "admin")}
    expected = {
        "alice": [f"user:{ids['alice']}", f"patient:{ids['alice']}", "role:PATIENT"],
        "martin": [f"user:{ids['martin']}", f"medecin:{ids['martin']}", "role:MEDECIN", f"cabinet:{cab}"],
        "secretariat": [f"user:{ids['secretariat']}", f"admincabinet:{ids['secretariat']}",
                        "role:ADMINCABINET", f"cabinet:{cab}"],
        "admin": [f"user:{ids['admin']}", "role:SUPERADMIN"],
    }
    all_auto = {room for rooms in expected.values() for room in rooms}
    all_auto |= {f"user:{ids['bob']}", f"patient:{ids['bob']}", f"patient:{ids['martin']}",
                 f"medecin:{ids['alice']}", f"admincabinet:{ids['admin']}"}
    for who, rooms in expected.items():
        client = party.clients[who]
        for room in rooms:
            # Already in: joining is a no-op success; leaving is refused.
            ack = await client.call("join-room", room)
            assert ack == {"type": "success", "message": "Room rejointe", "data": {"room": room}}, (who, ack)
            ack = await client.call("leave-room", room)
            assert is_error(ack, AUTOMATIC), (who, room, ack)
        for room in sorted(all_auto - set(rooms)):
            ack = await client.call("join-room", room)
            assert is_error(ack, FORBIDDEN), (who, room, ack)
            assert ack["data"] == {"room": room}
    # The automatic rooms are live: a role broadcast reaches exactly that role.
    status, event = party.api("admin", "POST", "notifications/broadcast/",
                              {"message": "médecins", "role": "MEDECIN"})
    assert status == 201
    await party.clients["martin"].wait_for("notification:general", lambda p: p["eventId"] == event["id"])
    await party.barrier()
    for who in ("alice", "secretariat", "admin"):
        assert not party.clients[who].matching("notification:general", lambda p: p["eventId"] == event["id"])


async def test_conversation_rooms_join_and_leave(party):
    await party.connect("alice", "bob", "martin", "bernard", "secretariat", "admin")
    conv = party.conversation()
    room = f"conversation:{conv}"
    for who in ("alice", "martin", "secretariat", "admin"):
        ack = await party.clients[who].call("join-room", room)
        assert ack == {"type": "success", "message": "Room rejointe", "data": {"room": room}}, (who, ack)
    for who in ("bob", "bernard"):
        ack = await party.clients[who].call("join-room", room)
        assert is_error(ack, FORBIDDEN) and ack["data"] == {"room": room}, (who, ack)
        assert party.clients[who].sio.connected
    # A conversation that does not exist is refused the same way (no existence oracle).
    ack = await party.clients["admin"].call("join-room", "conversation:999999999")
    assert is_error(ack, FORBIDDEN), ack

    status, m1 = party.api("martin", "POST", f"conversations/{conv}/messages/", {"contenu": "un"})
    assert status == 201
    for who in ("alice", "martin", "secretariat", "admin"):
        await party.clients[who].wait_for("message:new", lambda p: p["data"]["id"] == m1["id"])

    ack = await party.clients["secretariat"].call("leave-room", room)
    assert ack == {"type": "success", "message": "Room quittée", "data": {"room": room}}, ack
    ack = await party.clients["secretariat"].call("leave-room", room)
    assert is_error(ack, {"type": "error", "code": "room_non_rejointe",
                          "message": "Vous n'êtes pas dans cette room"}), ack
    ack = await party.clients["bob"].call("leave-room", room)
    assert is_error(ack, {"code": "room_non_rejointe"}), ack

    status, m2 = party.api("martin", "POST", f"conversations/{conv}/messages/", {"contenu": "deux"})
    assert status == 201
    await party.clients["alice"].wait_for("message:new", lambda p: p["data"]["id"] == m2["id"])
    await party.barrier()
    assert not party.clients["secretariat"].matching("message:new", lambda p: p["data"]["id"] == m2["id"])
    for who in ("bob", "bernard"):
        assert not party.clients[who].named("message:new")
        assert party.clients[who].sio.connected


async def test_bad_room_requests_get_error_acks_and_the_socket_stays(party):
    (bob,) = await party.connect("bob")
    ids = {w: party.id(w) for w in ("alice", "martin")}
    invalid = [None, 123, 1.5, True, {"room": "role:PATIENT"}, ["role:PATIENT"], "", "x" * 101,
               "x" * 50_000]
    forbidden = ["role:MEDECIN", "role:SUPERADMIN", "role:ADMINCABINET", f"user:{ids['alice']}",
                 f"patient:{ids['alice']}", f"medecin:{ids['martin']}", "cabinet:1", "conversation:abc",
                 "conversation:0", "creneaux:0", "creneaux:x", "creneaux:1 ", "conversation:-1",
                 "conversation:1 ", "unknown", "room:lobby",
                 "CONVERSATION:1", "conversation:" + "9" * 30, "é" * 50, "\x00"]
    for event in ("join-room", "leave-room"):
        for room in invalid:
            ack = await bob.call(event, room)
            assert is_error(ack, INVALID), (event, repr(room)[:60], ack)
            await asyncio.sleep(0.1)  # stay under the rate limit
        # No argument at all, or several.
        assert is_error(await bob.call(event), INVALID)
        ack = await bob.call(event, f"user:{ids['alice']}", "extra")
        assert ack["type"] == "error", ack
    for room in forbidden:
        ack = await bob.call("join-room", room)
        assert is_error(ack, FORBIDDEN), (repr(room)[:60], ack)
        await asyncio.sleep(0.1)
    assert bob.sio.connected
    await party.barrier()


async def test_unknown_events_get_an_error_ack(party):
    (alice,) = await party.connect("alice")
    for args in ((), ({"x": 1},), ("join",), (1, 2, 3)):
        ack = await alice.call("hack-the-planet", *args)
        assert isinstance(ack, dict) and ack["type"] == "error", ack
        assert ack["message"] == "Événement inconnu" and ack["code"] == "evenement_inconnu", ack
    ack = await alice.call("x" * 5000)
    assert ack["message"] == "Événement inconnu", ack
    # Names of server-side events are not client events either.
    for name in ("rendezvous:created", "notification:general", "connect", "disconnect"):
        ack = await alice.call(name, {"type": "success", "message": "faux", "data": {}})
        assert ack["type"] == "error" and ack["message"] == "Événement inconnu", (name, ack)
    assert alice.sio.connected
    # ... and did not reset the socket: its automatic rooms are still its own.
    ack = await alice.call("join-room", f"patient:{party.id('alice')}")
    assert ack["type"] == "success", ack
    await party.barrier()


@pytest.mark.timeout(60)
async def test_join_room_flood_is_rate_limited_and_others_are_served(party):
    bob, alice = await party.connect("bob", "alice")
    room = f"user:{party.id('bob')}"
    started = time.monotonic()
    acks = await asyncio.gather(*(bob.sio.call("join-room", room, timeout=30) for _ in range(500)))
    limited = [a for a in acks if a.get("code") == "trop_de_requetes"]
    ok = [a for a in acks if a.get("type") == "success"]
    assert len(ok) + len(limited) == 500, [a for a in acks if a not in ok and a not in limited][:3]
    assert len(limited) >= 400, len(limited)
    assert all(is_error(a, RATE) for a in limited)
    assert bob.sio.connected

    # While bob is throttled, alice is served normally and promptly.
    t0 = time.monotonic()
    ack = await alice.call("join-room", "role:PATIENT")
    assert ack["type"] == "success"
    assert time.monotonic() - t0 < 2.0
    await party.barrier()
    # The flooder gets events too, and its bucket refills.
    await asyncio.sleep(1.0)
    assert (await bob.call("join-room", room))["type"] == "success"
    assert time.monotonic() - started < 30
