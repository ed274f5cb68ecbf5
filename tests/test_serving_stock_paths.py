"""The "other version" path, for real: a daphne on which every serving patch stays off.

The server runs with ``SERVING_PRETEND_VERSIONS=*=0`` (serving/versions.py's test hook:
every distribution looks like another version than the one its patch was written for),
so python-engineio's sockets, python-socketio's dispatch and delivery, daphne, autobahn,
Twisted and Django's ASGI handler all run as shipped. It must start, say so once per
patch group, and serve the seed's whole real-time contract: connect and both refusals,
automatic rooms, join/leave, a booking's events to exactly their rooms, a message, a
broadcast, replay with ``lastEventId``; over websocket and long-polling, with
python-socketio clients and the official socket.io-client under Node.

The same holds for the whole real-time suite: ``SERVING_PRETEND_VERSIONS='*=0' pytest
tests/test_realtime_*.py tests/test_node_client.py tests/test_replay.py`` runs it against
stock servers (live stacks inherit the variable). One test fails there, by design: the
10,000-event burst to a python-socketio client on long-polling, which python-engineio's
own client drops once a poll carries more than 16 packets (serving/transport.py ``poll``).
"""

from __future__ import annotations

import uuid

import pytest

from .conftest import has_postgres
from .live import http, login, start_stack
from .rt import USERS, Party, Recorder, assert_payload
from .test_node_client import Actor, NodeClient, book, open_conversation, publish_slot, send_message
from .test_node_client import node_bin as node_bin  # the fixture

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TOKEN_REQUIRED = "Token d'authentification requis"
TOKEN_INVALID = "Token invalide"
GROUPS = (
    "engine.io packet fixes (always on)", "ENGINEIO_LEAN_SOCKETS", "python-socketio overrides (always on)",
    "DAPHNE_EAGER_WRITES", "DAPHNE_FAST_WS_SEND", "DAPHNE_LEAN_APP_CHECKER", "DAPHNE_SLIM_QUEUES",
    "DAPHNE_RELEASE_UPGRADE_REQUEST", "DAPHNE_LAZY_LOG_ARGS",
    "one-hop request handler (REQUEST_THREADS, AUTH_REQUEST_THREADS)",
)
SUCCESS_JOIN = "Room rejointe"
FORBIDDEN = {"type": "error", "message": "Accès refusé à cette room", "code": "room_interdite"}
AUTOMATIC = {"type": "error", "message": "Impossible de quitter une room automatique", "code": "room_automatique"}


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    # LOG_LEVEL=INFO: serving.install's "patch groups installed" line is at INFO.
    stack = start_stack(tmp_path_factory.mktemp("stock-paths"), postgres=has_postgres(),
                        extra_env={"SERVING_PRETEND_VERSIONS": "*=0", "LOG_LEVEL": "INFO"})
    yield stack
    stack.close()


def server_log(stack) -> str:
    return stack.servers[0].log.read_text(errors="replace")


def assert_started_stock(log: str) -> None:
    """Each patch group warned exactly once, and nothing was installed."""
    for group in GROUPS:
        lines = [line for line in log.splitlines() if line.startswith(f"{group} skipped: written for ")]
        assert len(lines) == 1, (group, lines)
        assert "found " in lines[0] and "the library's own code runs" in lines[0], lines[0]
    assert sum(" skipped: written for " in line for line in log.splitlines()) == len(GROUPS)
    assert log.count("serving: patch groups installed: ") == 1
    assert "serving: patch groups installed: none" in log


def test_the_server_starts_on_the_stock_paths_with_one_warning_per_group(stock):
    assert_started_stock(server_log(stock))


def by_id(obj_id):
    return lambda p: isinstance(p.get("data"), dict) and p["data"].get("id") == obj_id


def count(client: Recorder, event: str, pred=lambda p: True) -> int:
    return len(client.matching(event, pred))


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_connect_and_both_refusals(stock, transport):
    assert await Recorder("anonymous", [transport]).try_connect(stock.url) == TOKEN_REQUIRED
    assert await Recorder("garbage", [transport]).try_connect(stock.url, token="garbage.not.a-jwt") == TOKEN_INVALID
    refresh = login(stock.url, USERS["bob"])["refresh"]
    assert await Recorder("refresh", [transport]).try_connect(stock.url, token=refresh) == TOKEN_INVALID
    client = Recorder("alice", [transport])
    await client.connect(stock.url, login(stock.url, USERS["alice"])["access"])
    try:
        assert client.sio.connected and client.sio.transport() == transport
    finally:
        await client.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_rooms_booking_message_and_broadcast(stock, transport):
    party = Party(stock.url)
    try:
        await party.connect("alice", "bob", "martin", "secretariat", "admin", transports=[transport])
        alice, bob, martin, secretariat, admin = (party.clients[w] for w in
                                                  ("alice", "bob", "martin", "secretariat", "admin"))
        cabinet = party.me["secretariat"]["cabinet"]

        # automatic rooms: joining one is a no-op success, leaving one is refused
        for who, room in (("alice", f"patient:{party.id('alice')}"), ("martin", f"medecin:{party.id('martin')}"),
                          ("secretariat", f"cabinet:{cabinet}"), ("admin", "role:SUPERADMIN")):
            ack = await party.clients[who].call("join-room", room)
            assert ack == {"type": "success", "message": SUCCESS_JOIN, "data": {"room": room}}, (who, ack)
            ack = await party.clients[who].call("leave-room", room)
            assert ack == {**AUTOMATIC, "data": {"room": room}}, (who, ack)
        ack = await bob.call("join-room", f"patient:{party.id('alice')}")
        assert ack == {**FORBIDDEN, "data": {"room": f"patient:{party.id('alice')}"}}
        # events named like the lifecycle ones are unknown events, and leave the socket as it was
        for name in ("connect", "disconnect"):
            ack = await alice.call(name, {"HTTP_AUTHORIZATION": "Bearer x"})
            assert ack == {"type": "error", "message": "Événement inconnu", "code": "evenement_inconnu",
                           "data": {"event": name}}, ack

        # a slot published: creneau:available to every patient (role:PATIENT) only
        follow = f"creneaux:{party.id('martin')}"
        assert (await alice.call("join-room", follow))["type"] == "success"
        slot = party.publish("martin")
        for client in (alice, bob):
            (payload,) = await client.wait_for("creneau:available", by_id(slot["id"]), count=1)
            assert_payload(payload, type_="info", message="Nouveau créneau disponible", data=slot)

        # a booking: created to the patient, new to the doctor and the practice's admin,
        # unavailable to the agenda's followers, nothing to anyone else
        rdv = party.book("alice", slot["id"], motif="Toux")
        (created,) = await alice.wait_for("rendezvous:created", by_id(rdv["id"]))
        assert_payload(created, type_="success", message="Rendez-vous créé avec succès", data=rdv)
        for client in (martin, secretariat):
            (new,) = await client.wait_for("rendezvous:new", by_id(rdv["id"]))
            assert_payload(new, type_="info", message="Nouveau rendez-vous en attente de confirmation", data=rdv)
        (gone,) = await alice.wait_for("creneau:unavailable", by_id(slot["id"]))
        assert gone["type"] == "info" and gone["message"] == "Ce créneau a été réservé ou retiré"
        assert (await alice.call("leave-room", follow)) == {
            "type": "success", "message": "Room quittée", "data": {"room": follow}}

        # a conversation: its participants may join it, others not; a message reaches
        # the doctor's socket once (conversation room and personal room)
        status, conv = party.api("alice", "POST", "conversations/", {"participant": party.id("martin")})
        assert status in (200, 201), conv
        room = f"conversation:{conv['id']}"
        assert await martin.call("join-room", room) == {"type": "success", "message": SUCCESS_JOIN,
                                                        "data": {"room": room}}
        assert await bob.call("join-room", room) == {**FORBIDDEN, "data": {"room": room}}
        status, message = party.api("alice", "POST", f"conversations/{conv['id']}/messages/",
                                    {"contenu": f"Bonjour {transport}"})
        assert status == 201, message
        (received,) = await martin.wait_for("message:new", by_id(message["id"]))
        assert_payload(received, type_="info", message="Nouveau message", data=message)
        assert await martin.call("leave-room", room) == {"type": "success", "message": "Room quittée",
                                                         "data": {"room": room}}

        # broadcasts: one user, one practice, everyone
        tag = uuid.uuid4().hex[:8]
        status, to_bob = party.api("admin", "POST", "notifications/broadcast/",
                                   {"message": f"{tag}-bob", "user": party.id("bob")})
        assert status == 201, to_bob
        status, to_cabinet = party.api("admin", "POST", "notifications/broadcast/",
                                       {"message": f"{tag}-cabinet", "cabinet": cabinet})
        assert status == 201, to_cabinet
        await party.barrier()  # a broadcast to everyone, received by every socket

        everyone = ("alice", "bob", "martin", "secretariat", "admin")
        expected = {
            ("creneau:available", by_id(slot["id"])): {"alice": 1, "bob": 1},
            ("rendezvous:created", by_id(rdv["id"])): {"alice": 1},
            ("rendezvous:new", by_id(rdv["id"])): {"martin": 1, "secretariat": 1},
            ("creneau:unavailable", by_id(slot["id"])): {"alice": 1},
            ("message:new", by_id(message["id"])): {"martin": 1},
            ("notification:general", lambda p: p["message"] == f"{tag}-bob"): {"bob": 1},
            # the practice's staff, and its patients with an upcoming booking (alice, just now)
            ("notification:general", lambda p: p["message"] == f"{tag}-cabinet"):
                {"martin": 1, "secretariat": 1, "alice": 1},
        }
        for (event, pred), recipients in expected.items():
            got = {who: count(party.clients[who], event, pred) for who in everyone}
            assert got == {who: recipients.get(who, 0) for who in everyone}, event
        for client in party.clients.values():
            assert client.sio.connected and not client.disconnects, client.name
            ids = [p["eventId"] for _, p in client.events if isinstance(p, dict) and "eventId" in p]
            assert ids == sorted(ids) and len(ids) == len(set(ids)), client.name
    finally:
        await party.close()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_replay_with_last_event_id(stock, transport):
    party = Party(stock.url)
    tag = uuid.uuid4().hex[:8]
    (alice,) = await party.connect("alice", transports=[transport])
    party.api("admin", "POST", "notifications/broadcast/", {"message": f"{tag}-before", "role": "PATIENT"})
    (before,) = await alice.wait_for("notification:general", lambda p: p["message"] == f"{tag}-before")
    await alice.close()

    missed = [f"{tag}-missed-{i}" for i in range(4)]
    for text in missed:
        status, _ = party.api("admin", "POST", "notifications/broadcast/", {"message": text, "role": "PATIENT"})
        assert status == 201
    back = Recorder("alice-back", [transport])
    await back.connect(stock.url, auth={"token": party.token("alice"), "lastEventId": before["eventId"]})
    try:
        party.api("admin", "POST", "notifications/broadcast/", {"message": f"{tag}-after", "role": "PATIENT"})
        await back.wait_for("notification:general", lambda p: p["message"] == f"{tag}-after")
        await party.barrier([back])
        mine = [p["message"] for p in back.named("notification:general") if p["message"].startswith(tag)]
        assert mine == missed + [f"{tag}-after"]  # the missed ones in order, then live; none twice
    finally:
        await back.close()
        await party.close()


# ---- the official client --------------------------------------------------------------------

@pytest.fixture
def node(node_bin, stock):
    started: list[NodeClient] = []

    def spawn(name: str, **scenario) -> NodeClient:
        client = NodeClient(node_bin, {"url": stock.url, "timeoutMs": 120_000, **scenario}, name)
        started.append(client)
        client.wait_for(lambda ln: ln.get("kind") in ("connect", "connect_error", "exit"), "connect")
        return client

    yield spawn
    for client in started:
        client.close()
    print("\n\n".join(c.report() for c in started))


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_the_official_client_on_the_stock_paths(stock, node, transport):
    tokens = {who: login(stock.url, USERS[who])["access"] for who in ("alice", "bob", "martin", "admin")}

    def call(who: str, method: str, path: str, body=None):
        return http(method, f"{stock.url}/api/{path}", body, token=tokens[who])

    for name, scenario, expected in (
        ("anonymous", {}, TOKEN_REQUIRED),
        ("garbage", {"token": "garbage.not.a-jwt"}, TOKEN_INVALID),
    ):
        refused = node(name, transports=[transport], **scenario)
        (error,) = refused.kinds("connect_error")
        assert error["message"] == expected, refused.report()
        assert not refused.kinds("connect")

    alice = node("alice", token=tokens["alice"], transports=[transport])
    bob = node("bob", token=tokens["bob"], transports=[transport])
    martin = node("martin", token=tokens["martin"], transports=[transport])
    for client in (alice, bob, martin):
        assert client.kinds("connect")[0]["transport"] == transport, client.report()

    tag = uuid.uuid4().hex[:8]
    status, first = call("admin", "POST", "notifications/broadcast/", {"message": f"{tag}-first"})
    assert status == 201, first
    seen = alice.wait_event("notification:general", lambda p: p["message"] == f"{tag}-first")

    doctor, patient = Actor(stock.url, USERS["martin"]), Actor(stock.url, USERS["alice"])
    slot = publish_slot(doctor)
    rdv = book(patient, slot)
    created = alice.wait_event("rendezvous:created", lambda p: p["data"]["id"] == rdv["id"])
    assert created["type"] == "success" and created["message"] == "Rendez-vous créé avec succès"
    new = martin.wait_event("rendezvous:new", lambda p: p["data"]["id"] == rdv["id"])
    assert new["message"] == "Nouveau rendez-vous en attente de confirmation"

    conv = open_conversation(patient, doctor)
    assert martin.emit("join-room", f"conversation:{conv['id']}") == {
        "type": "success", "message": SUCCESS_JOIN, "data": {"room": f"conversation:{conv['id']}"}}
    assert bob.emit("join-room", f"conversation:{conv['id']}") == {
        **FORBIDDEN, "data": {"room": f"conversation:{conv['id']}"}}
    sent = send_message(patient, conv["id"], f"Bonjour {tag}")
    received = martin.wait_event("message:new", lambda p: p["data"]["id"] == sent["id"])
    assert received["message"] == "Nouveau message"

    status, last = call("admin", "POST", "notifications/broadcast/", {"message": f"{tag}-last"})
    assert status == 201
    for client in (alice, bob, martin):
        client.wait_event("notification:general", lambda p: p["message"] == f"{tag}-last")
        client.assert_connected()
    assert len(alice.payloads("rendezvous:created", lambda p: p["data"]["id"] == rdv["id"])) == 1
    assert not bob.payloads("rendezvous:created") and not bob.payloads("rendezvous:new")
    assert not bob.payloads("message:new") and not alice.payloads("message:new")
    assert len(martin.payloads("message:new", lambda p: p["data"]["id"] == sent["id"])) == 1

    # replay: a new official client asking for what followed the first broadcast
    back = node("alice-back", transports=[transport],
                auth={"token": tokens["alice"], "lastEventId": seen["eventId"]})
    back.wait_event("notification:general", lambda p: p["message"] == f"{tag}-last")
    replayed = [(e["event"], e["payload"]["eventId"]) for e in back.events()]
    ids = [event_id for _, event_id in replayed]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) and all(i > seen["eventId"] for i in ids), replayed
    assert ("rendezvous:created", created["eventId"]) in replayed, replayed
    assert ("notification:general", last["id"]) in replayed, replayed
    assert ("notification:general", seen["eventId"]) not in replayed, replayed


def test_after_all_that_each_warning_is_still_there_once(stock):
    """Nothing re-checked (and re-warned) at the first websocket, poll or request."""
    assert_started_stock(server_log(stock))


async def test_an_honest_client_still_gets_its_events_at_the_end(stock):
    """The server is still serving after every test above (and its stock sockets closed)."""
    party = Party(stock.url)
    try:
        (chloe,) = await party.connect("chloe")
        await party.barrier([chloe])
    finally:
        await party.close()
