"""A move and a booking race for one slot on the live server (PostgreSQL when
DATABASE_URL is set), each client with its socket: one 200/201, the other 409 with
``creneau:conflict`` on its own socket, and nothing of the loser's changed."""

from __future__ import annotations

import asyncio

import pytest

from .rt import Party, assert_payload

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ROUNDS = 4


@pytest.fixture
async def party(live):
    party = Party(live.url)
    yield party
    await party.close()


def by_id(obj_id):
    return lambda p: isinstance(p.get("data"), dict) and p["data"].get("id") == obj_id


async def test_a_move_and_a_booking_race_for_one_slot(party):
    alice, bob, martin = await party.connect("alice", "bob", "martin")
    outcomes = set()
    for _ in range(ROUNDS):
        old, target = party.publish("martin"), party.publish("martin")
        rdv = party.book("alice", old["id"])
        (move_status, moved), (book_status, booked) = await asyncio.gather(
            asyncio.to_thread(party.api, "alice", "POST", f"rendezvous/{rdv['id']}/move/", {"creneau": target["id"]}),
            asyncio.to_thread(party.api, "bob", "POST", "rendezvous/", {"creneau": target["id"], "motif": "course"}),
        )
        assert sorted([move_status, book_status]) in ([200, 409], [201, 409]), (moved, booked)
        if move_status == 200:
            outcomes.add("move")
            winner, loser, lost = alice, bob, booked
            assert moved["creneau"]["id"] == target["id"]
            await alice.wait_for("rendezvous:moved", by_id(rdv["id"]))
            # Bob's attempt left nothing: no booking of his on that slot.
            status, mine = party.api("bob", "GET", f"rendezvous/?medecin={target['medecin']}")
            assert status == 200 and not [r for r in mine["results"] if r["creneau"]["id"] == target["id"]], mine
        else:
            outcomes.add("booking")
            winner, loser, lost = bob, alice, moved
            await bob.wait_for("rendezvous:created", by_id(booked["id"]))
            # Alice keeps her booking on its old slot, exactly as it was.
            status, again = party.api("alice", "GET", f"rendezvous/{rdv['id']}/")
            assert status == 200, again
            assert again["creneau"]["id"] == old["id"] and again["statut"] == rdv["statut"], again
            assert again["updated_at"] == rdv["updated_at"] and again.get("deplace_at") is None, again
        assert lost["code"] == "creneau_indisponible" and lost["message"] == "Ce créneau n'est plus disponible"
        assert lost["details"]["creneau"]["id"] == target["id"] and lost["details"]["creneau"]["disponible"] is False
        (conflict,) = await loser.wait_for("creneau:conflict", by_id(target["id"]))
        assert_payload(conflict, type_="error", message="Ce créneau n'est plus disponible",
                       data=lost["details"]["creneau"])

        await party.barrier()
        assert not winner.matching("creneau:conflict", by_id(target["id"]))
        assert not martin.matching("creneau:conflict", by_id(target["id"]))
        assert len(loser.matching("creneau:conflict", by_id(target["id"]))) == 1
        if loser is alice:
            assert not alice.matching("rendezvous:moved", by_id(rdv["id"]))
        else:
            taken = target["id"]
            assert not bob.matching("rendezvous:created", lambda p, taken=taken: p["data"]["creneau"]["id"] == taken)
    print("outcomes:", sorted(outcomes))
