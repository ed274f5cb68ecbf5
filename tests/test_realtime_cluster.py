"""Production mode: two daphne processes on PostgreSQL + Redis, plus manage.py commands
in a third process. An event committed anywhere reaches every addressed socket on both
servers exactly once; a rolled-back transaction reaches none.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from .rt import Party, fresh_slot

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.postgres, pytest.mark.timeout(180)]


@pytest.fixture
async def two(cluster):
    """Sockets on both servers: ``who@0`` on server 0, ``who@1`` on server 1."""
    party = Party(cluster.servers[0].url)
    urls = [s.url for s in cluster.servers]
    for i, url in enumerate(urls):
        for who in ("alice", "bob", "martin", "bernard", "secretariat", "admin"):
            await party.connect(who, url=url, key=f"{who}@{i}")
    party.urls = urls
    yield party
    await party.close()


def deliveries(party: Party, event: str, pred) -> dict[str, int]:
    return {key: len(c.matching(event, pred)) for key, c in party.clients.items()}


def expect(party: Party, event: str, pred, recipients: set[str]) -> None:
    """Each ``who@i`` in recipients exactly once, on both servers; everyone else never."""
    got = deliveries(party, event, pred)
    want = {key: (1 if key.split("@")[0] in recipients else 0) for key in party.clients}
    assert got == want, (event, got)


def assert_no_duplicates(party: Party) -> None:
    for key, client in party.clients.items():
        counts = Counter(p["eventId"] for _, p in client.events if isinstance(p, dict) and "eventId" in p)
        dupes = {e: n for e, n in counts.items() if n > 1}
        assert not dupes, (key, dupes)


async def test_events_from_either_server_and_a_third_process_reach_both(two, cluster):
    party = two
    s0, s1 = party.urls

    # 1. Committed by a REST call on server 0: a slot for every patient socket.
    slot = party.api("martin", "POST", "creneaux/", dict(zip(("debut", "fin"), fresh_slot(), strict=True)),
                     url=s0)[1]
    assert "id" in slot, slot

    def on_slot(p):
        return p["data"]["id"] == slot["id"]

    for key in ("alice@0", "alice@1", "bob@0", "bob@1"):
        await party.clients[key].wait_for("creneau:available", on_slot)

    # 2. Committed by a REST call on server 1: alice books it.
    status, rdv = party.api("alice", "POST", "rendezvous/", {"creneau": slot["id"], "motif": "x"}, url=s1)
    assert status == 201, rdv

    def on_rdv(p):
        return p["data"]["id"] == rdv["id"]

    for key in ("alice@0", "alice@1"):
        (p,) = await party.clients[key].wait_for("rendezvous:created", on_rdv)
        assert p["data"] == rdv
    for key in ("martin@0", "martin@1", "secretariat@0", "secretariat@1"):
        await party.clients[key].wait_for("rendezvous:new", on_rdv)

    # 3. Committed by manage.py in a third process: to a role, then to everyone.
    role_id = int(cluster.manage("broadcast", "--message", "Aux patients", "--role", "PATIENT",
                                 "--type", "warning").strip())
    all_id = int(cluster.manage("broadcast", "--message", "À tous").strip())
    bob_id = int(cluster.manage("broadcast", "--message", "À bob", "--user", str(party.id("bob"))).strip())

    def event(eid):
        return lambda p: p["eventId"] == eid

    for key in party.clients:
        (p,) = await party.clients[key].wait_for("notification:general", event(all_id))
        assert p["message"] == "À tous" and p["data"] == {"cible": {"tous": True}}
    await party.barrier(url=s1)

    expect(party, "creneau:available", on_slot, {"alice", "bob"})
    expect(party, "rendezvous:created", on_rdv, {"alice"})
    expect(party, "rendezvous:new", on_rdv, {"martin", "secretariat"})
    expect(party, "notification:general", event(role_id), {"alice", "bob"})
    expect(party, "notification:general", event(all_id), {"alice", "bob", "martin", "bernard", "secretariat", "admin"})
    expect(party, "notification:general", event(bob_id), {"bob"})
    (p,) = party.clients["bob@1"].matching("notification:general", event(role_id))
    assert p["type"] == "warning" and p["message"] == "Aux patients" and p["data"] == {"cible": {"role": "PATIENT"}}
    assert_no_duplicates(party)


async def test_message_in_a_conversation_spanning_servers(two):
    party = two
    s0, s1 = party.urls
    slot = party.publish("martin")
    party.book("alice", slot["id"])
    status, conv = party.api("alice", "POST", "conversations/", {"participant": party.id("martin")})
    assert status in (200, 201), conv
    room = f"conversation:{conv['id']}"
    for key in ("alice@0", "martin@1", "secretariat@0"):
        assert (await party.clients[key].call("join-room", room))["type"] == "success"
    assert (await party.clients["bob@1"].call("join-room", room))["code"] == "room_interdite"

    status, msg = party.api("alice", "POST", f"conversations/{conv['id']}/messages/", {"contenu": "Bonjour"},
                            url=s1)
    assert status == 201, msg

    def on_msg(p):
        return p["data"]["id"] == msg["id"]

    await party.clients["martin@1"].wait_for("message:new", on_msg)
    await party.barrier()
    got = deliveries(party, "message:new", on_msg)
    # martin: both sockets via user:{martin}, martin@1 also via the room (still once);
    # alice@0 and secretariat@0 via the room.
    assert got == {**dict.fromkeys(party.clients, 0), "martin@0": 1, "martin@1": 1, "alice@0": 1,
                   "secretariat@0": 1}, got
    assert_no_duplicates(party)


ROLLBACK = """
import json
from datetime import datetime, timedelta
from django.db import transaction
from realtime import services as rt_services
from rendezvous import services
from rendezvous.models import Creneau, Medecin, RendezVous, User

martin = User.objects.get(email="dr.martin@demo.fr")
medecin = Medecin.objects.get(pk=martin.pk)
alice = User.objects.get(email="alice@demo.fr")
admin = User.objects.get(email="admin@demo.fr")
rolled, kept = datetime.fromisoformat("{rolled}"), datetime.fromisoformat("{kept}")


class Rollback(Exception):
    pass


try:
    with transaction.atomic():
        slot = services.publish_creneau(acteur=martin, medecin=medecin, debut=rolled,
                                        fin=rolled + timedelta(minutes=30))
        rdv = services.book_creneau(patient=alice, creneau=slot, motif="annulé par rollback")
        services.confirm_rendezvous(acteur=martin, rdv=rdv)
        rt_services.broadcast(acteur=admin, message="rollback-broadcast")
        raise Rollback
except Rollback:
    pass
assert not Creneau.objects.filter(medecin=medecin, debut=rolled).exists()
assert not RendezVous.objects.filter(motif="annulé par rollback").exists()
with transaction.atomic():
    slot = services.publish_creneau(acteur=martin, medecin=medecin, debut=kept,
                                    fin=kept + timedelta(minutes=30))
print(json.dumps({{"kept": slot.pk}}))
"""


async def test_rolled_back_transaction_emits_nothing(two, cluster):
    party = two
    rolled, _ = fresh_slot()
    kept, _ = fresh_slot()
    out = cluster.manage("shell", "-c", ROLLBACK.format(rolled=rolled, kept=kept))
    kept_id = json.loads(out.strip().splitlines()[-1])["kept"]

    def on_kept(p):
        return p["data"]["id"] == kept_id

    for key in ("alice@0", "alice@1", "bob@0", "bob@1"):
        await party.clients[key].wait_for("creneau:available", on_kept)
    await party.barrier()
    for key, client in party.clients.items():
        names = [e for e, p in client.events
                 if not (e == "notification:general" and p["message"].startswith("barrier-"))]
        expected = ["creneau:available"] if key.split("@")[0] in ("alice", "bob") else []
        assert names == expected, (key, client.events)
