"""Every event of SPEC's routing table, end to end: REST call on a live daphne, real
Socket.IO clients, exact recipients, exact payloads, and nobody else.
"""

from __future__ import annotations

import json

import pytest

from .rt import Party, assert_payload

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

EVERYONE = ("alice", "bob", "chloe", "martin", "bernard", "secretariat", "admin")
PATIENTS = ("alice", "bob", "chloe")
SLOT_KEYS = {"id", "medecin", "debut", "fin", "timezone", "actif", "disponible"}


@pytest.fixture
async def party(live):
    party = Party(live.url)
    yield party
    await party.close()


def by_id(obj_id):
    return lambda p: isinstance(p.get("data"), dict) and p["data"].get("id") == obj_id


def assert_only(party: Party, event: str, pred, recipients: dict[str, int]) -> None:
    """``recipients`` got exactly that many; every other connected client none."""
    for who, client in party.clients.items():
        got = len(client.matching(event, pred))
        assert got == recipients.get(who, 0), f"{who} got {got} {event}"


def assert_no_patient_data(party: Party, who: str, *patients: str) -> None:
    """Nothing a role-wide room carried names a patient or a booking reason."""
    for event, payload in party.clients[who].events:
        if event == "notification:general":
            continue
        text = json.dumps(payload, ensure_ascii=False)
        for p in patients:
            assert party.me[p]["last_name"] not in text, (who, event, payload)
            assert party.me[p]["email"] not in text, (who, event, payload)
        assert '"motif' not in text, (who, event, payload)
        assert '"patient"' not in text, (who, event, payload)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_publish_emits_creneau_available_to_every_patient(party, transport):
    await party.connect(*EVERYONE, transports=[transport])
    slot = party.publish("martin")

    for who in PATIENTS:
        (payload,) = await party.clients[who].wait_for("creneau:available", by_id(slot["id"]))
        assert_payload(payload, type_="info", message="Nouveau créneau disponible", data=slot)
        assert set(payload["data"]) == SLOT_KEYS
    await party.barrier()
    assert_only(party, "creneau:available", by_id(slot["id"]), dict.fromkeys(PATIENTS, 1))
    # The same eventId everywhere: one event, fanned out.
    ids = {party.clients[w].matching("creneau:available", by_id(slot["id"]))[0]["eventId"] for w in PATIENTS}
    assert len(ids) == 1


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_booking_created_and_new(party, transport):
    await party.connect(*EVERYONE, transports=[transport])
    slot = party.publish("martin")
    rdv = party.book("alice", slot["id"], motif="Toux persistante")
    clients = party.clients

    (created,) = await clients["alice"].wait_for("rendezvous:created", by_id(rdv["id"]))
    assert_payload(created, type_="success", message="Rendez-vous créé avec succès", data=rdv)
    for who in ("martin", "secretariat"):
        (new,) = await clients[who].wait_for("rendezvous:new", by_id(rdv["id"]))
        assert_payload(new, type_="info", message="Nouveau rendez-vous en attente de confirmation",
                       data=rdv)
    assert created["eventId"] < new["eventId"]

    await party.barrier()
    assert_only(party, "rendezvous:created", by_id(rdv["id"]), {"alice": 1})
    assert_only(party, "rendezvous:new", by_id(rdv["id"]), {"martin": 1, "secretariat": 1})
    for who in ("bob", "chloe"):
        assert_no_patient_data(party, who, "alice")


async def test_confirmed_reaches_patient_and_doctor(party):
    await party.connect(*EVERYONE)
    slot = party.publish("bernard")
    rdv = party.book("bob", slot["id"])
    status, confirmed = party.api("secretariat", "POST", f"rendezvous/{rdv['id']}/confirm/")
    assert status == 200, confirmed
    assert confirmed["statut"] != rdv["statut"]

    (patient,) = await party.clients["bob"].wait_for("rendezvous:confirmed", by_id(rdv["id"]))
    assert_payload(patient, type_="success", message="Votre rendez-vous a été confirmé", data=confirmed)
    (doctor,) = await party.clients["bernard"].wait_for("rendezvous:confirmed", by_id(rdv["id"]))
    assert_payload(doctor, type_="success", message="Rendez-vous confirmé", data=confirmed)

    await party.barrier()
    assert_only(party, "rendezvous:confirmed", by_id(rdv["id"]), {"bob": 1, "bernard": 1})


@pytest.mark.parametrize("canceller", ["alice", "martin"])
async def test_cancelled_reaches_parties_and_frees_the_slot(party, canceller):
    await party.connect(*EVERYONE)
    slot = party.publish("martin")
    rdv = party.book("alice", slot["id"], motif="Douleur au genou")
    status, cancelled = party.api(canceller, "POST", f"rendezvous/{rdv['id']}/cancel/",
                                  {"motif": "Empêchement"})
    assert status == 200, cancelled
    status, freed = party.api("chloe", "GET", f"creneaux/{slot['id']}/")
    assert status == 200 and freed["disponible"] is True, freed

    by_patient = canceller == "alice"
    (p,) = await party.clients["alice"].wait_for("rendezvous:cancelled", by_id(rdv["id"]))
    assert_payload(p, type_="warning", data=cancelled,
                   message="Votre annulation a bien été prise en compte" if by_patient
                   else "Votre rendez-vous a été annulé")
    for who in ("martin", "secretariat"):
        (p,) = await party.clients[who].wait_for("rendezvous:cancelled", by_id(rdv["id"]))
        assert_payload(p, type_="warning", data=cancelled,
                       message="Rendez-vous annulé par le patient" if by_patient else "Rendez-vous annulé")
    for who in PATIENTS:
        (p,) = await party.clients[who].wait_for(
            "creneau:available", lambda p: by_id(slot["id"])(p) and p["message"] == "Un créneau s'est libéré"
        )
        assert_payload(p, type_="info", message="Un créneau s'est libéré", data=freed)
        assert set(p["data"]) == SLOT_KEYS

    await party.barrier()
    assert_only(party, "rendezvous:cancelled", by_id(rdv["id"]),
                {"alice": 1, "martin": 1, "secretariat": 1})
    # Published, then freed: two creneau:available per patient socket, none for staff.
    assert_only(party, "creneau:available", by_id(slot["id"]), dict.fromkeys(PATIENTS, 2))
    for who in ("bob", "chloe"):
        assert_no_patient_data(party, who, "alice")


async def test_conflict_only_to_the_requester(party):
    await party.connect(*EVERYONE)
    slot = party.publish("martin")
    rdv = party.book("alice", slot["id"])
    status, body = party.api("bob", "POST", "rendezvous/", {"creneau": slot["id"], "motif": "x"})
    assert status == 409, body
    taken = body["details"]["creneau"]
    assert taken["id"] == slot["id"] and taken["disponible"] is False

    (p,) = await party.clients["bob"].wait_for("creneau:conflict", by_id(slot["id"]))
    assert_payload(p, type_="error", message="Ce créneau n'est plus disponible", data=taken)

    await party.barrier()
    assert_only(party, "creneau:conflict", by_id(slot["id"]), {"bob": 1})
    # The loser's attempt created nothing: no rendezvous:created for bob, one for alice.
    assert_only(party, "rendezvous:created", lambda p: p["data"]["creneau"]["id"] == slot["id"],
                {"alice": 1})
    assert_only(party, "rendezvous:new", lambda p: p["data"]["creneau"]["id"] == slot["id"],
                {"martin": 1, "secretariat": 1})
    assert rdv["patient"]["id"] == party.id("alice")


async def test_message_new_once_per_socket_and_message_read(party):
    await party.connect(*EVERYONE)
    (martin_bare,) = await party.connect("martin", key="martin-2")  # user room only
    conv = party.conversation()
    room = f"conversation:{conv}"
    for who in ("alice", "martin", "secretariat"):
        ack = await party.clients[who].call("join-room", room)
        assert ack["type"] == "success", (who, ack)
    for who in ("bob", "bernard"):
        ack = await party.clients[who].call("join-room", room)
        assert ack["type"] == "error" and ack["code"] == "room_interdite", (who, ack)

    status, message = party.api("alice", "POST", f"conversations/{conv}/messages/",
                                {"contenu": "Bonjour docteur"})
    assert status == 201, message
    for who in ("alice", "martin", "martin-2", "secretariat"):
        (p,) = await party.clients[who].wait_for("message:new", by_id(message["id"]))
        assert_payload(p, type_="info", message="Nouveau message", data=message)
    await party.barrier()
    # martin's first socket is in conversation:{id} AND user:{martin}: still one delivery.
    assert_only(party, "message:new", by_id(message["id"]),
                {"alice": 1, "martin": 1, "martin-2": 1, "secretariat": 1})

    status, read = party.api("martin", "POST", f"conversations/{conv}/read/")
    assert status == 200 and message["id"] in read["messages"], read

    def is_read(p):
        return p["data"].get("conversation") == conv and message["id"] in p["data"].get("messages", [])

    for who in ("alice", "martin", "secretariat"):
        (p,) = await party.clients[who].wait_for("message:read", is_read)
        assert_payload(p, type_="info", message="Message lu")
        assert p["data"]["lecteur"] == party.id("martin")
        assert p["data"]["messages"] == read["messages"]
        assert p["data"]["conversation"] == read["conversation"]
    await party.barrier()
    # alice (the author) is in the conversation room and her user room: once.
    assert_only(party, "message:read", is_read, {"alice": 1, "martin": 1, "secretariat": 1})
    assert martin_bare is party.clients["martin-2"]


async def test_message_new_without_joining_reaches_the_recipient_user_room(party):
    await party.connect("alice", "martin", "bob", "bernard")
    conv = party.conversation()
    status, message = party.api("martin", "POST", f"conversations/{conv}/messages/",
                                {"contenu": "Résultats disponibles"})
    assert status == 201, message
    (p,) = await party.clients["alice"].wait_for("message:new", by_id(message["id"]))
    assert_payload(p, type_="info", message="Nouveau message", data=message)
    await party.barrier()
    # The author's socket is in no room the message was addressed to.
    assert_only(party, "message:new", by_id(message["id"]), {"alice": 1})


def _note(party: Party, who: str, body: dict) -> dict:
    status, event = party.api(who, "POST", "notifications/broadcast/", body)
    assert status == 201, event
    return event


@pytest.mark.parametrize(
    ("target", "recipients"),
    [
        ("user", ("bob",)),
        ("role", ("martin", "bernard")),
        ("everyone", EVERYONE),
    ],
)
async def test_notification_general_by_admin(party, target, recipients):
    await party.connect(*EVERYONE)
    body = {"message": f"Maintenance ce soir ({target})", "type": "warning"}
    if target == "user":
        body["user"] = party.id("bob")
        cible = {"user": party.id("bob")}
    elif target == "role":
        body["role"] = "MEDECIN"
        cible = {"role": "MEDECIN"}
    else:
        cible = {"tous": True}
    event = _note(party, "admin", body)

    def mine(p):
        return p["eventId"] == event["id"]

    for who in recipients:
        (p,) = await party.clients[who].wait_for("notification:general", mine)
        assert_payload(p, type_="warning", message=body["message"], data={"cible": cible})
        assert p["data"] == event["data"]
    await party.barrier()
    assert_only(party, "notification:general", mine, dict.fromkeys(recipients, 1))


async def test_notification_general_to_a_practice(party):
    await party.connect(*EVERYONE)
    # bob has an active future booking in the practice; chloe has none (other test files
    # share this server and may have booked as chloe: cancel those first).
    status, mine_ = party.api("chloe", "GET", "rendezvous/?page_size=200")
    assert status == 200
    for rdv in mine_["results"]:
        if rdv["statut"] != "ANNULE":
            assert party.api("chloe", "POST", f"rendezvous/{rdv['id']}/cancel/", {})[0] == 200
    slot = party.publish("bernard")
    party.book("bob", slot["id"])
    status, me = party.api("secretariat", "GET", "me/")
    cabinet = me["cabinet"]
    for sender in ("secretariat", "admin"):
        event = _note(party, sender, {"message": f"Cabinet fermé lundi ({sender})", "cabinet": cabinet})

        def mine(p, event_id=event["id"]):
            return p["eventId"] == event_id

        for who in ("secretariat", "martin", "bernard", "bob"):
            (p,) = await party.clients[who].wait_for("notification:general", mine)
            assert_payload(p, type_="info", message=event["message"], data={"cible": {"cabinet": cabinet}})
        await party.barrier()
        got = {who for who, c in party.clients.items() if c.matching("notification:general", mine)}
        assert {"secretariat", "martin", "bernard", "bob"} <= got
        assert "chloe" not in got and "admin" not in got, got
        for who in got:
            assert len(party.clients[who].matching("notification:general", mine)) == 1


async def test_practice_admin_may_not_broadcast_beyond_the_practice(party):
    await party.connect("bob", "secretariat")
    status, body = party.api("secretariat", "POST", "notifications/broadcast/",
                             {"message": "à tous", "role": "PATIENT"})
    assert status == 403, body
    status, body = party.api("martin", "POST", "notifications/broadcast/", {"message": "à tous"})
    assert status == 403, body
    await party.barrier()
    assert not party.clients["bob"].matching("notification:general", lambda p: p["message"] == "à tous")


async def test_withdrawn_or_booked_slot_reaches_its_followers_only(party):
    """``creneau:unavailable`` goes to the sockets following that doctor's slots
    (``creneaux:{medecin}``, joined by booking grids and agendas), as slot data only;
    not role-wide: one booking must not cost a delivery per patient online."""
    await party.connect(*EVERYONE)
    slot = party.publish("martin")
    followers = ["alice", "secretariat"]
    for who in followers:
        ack = await party.clients[who].call("join-room", f"creneaux:{slot['medecin']}")
        assert ack == {"type": "success", "message": "Room rejointe",
                       "data": {"room": f"creneaux:{slot['medecin']}"}}
    status, _ = party.api("martin", "DELETE", f"creneaux/{slot['id']}/")
    assert status == 204
    booked = party.publish("martin")
    party.book("bob", booked["id"])
    for who in followers:
        await party.clients[who].wait_for("creneau:unavailable", by_id(slot["id"]))
        await party.clients[who].wait_for("creneau:unavailable", by_id(booked["id"]))
    await party.barrier()
    for target in (slot, booked):
        assert_only(party, "creneau:unavailable", by_id(target["id"]), dict.fromkeys(followers, 1))
    for who in followers:
        (p,) = party.clients[who].matching("creneau:unavailable", by_id(slot["id"]))
        assert set(p["data"]) == SLOT_KEYS and p["data"]["actif"] is False
        assert p["message"] == "Ce créneau a été retiré"
        (p,) = party.clients[who].matching("creneau:unavailable", by_id(booked["id"]))
        assert set(p["data"]) == SLOT_KEYS and p["data"]["disponible"] is False
        assert p["message"] == "Ce créneau a été réservé ou retiré"
    # A published slot also reaches followers who are not patients (the agenda).
    fresh = party.publish("martin")
    await party.clients["secretariat"].wait_for("creneau:available", by_id(fresh["id"]))
