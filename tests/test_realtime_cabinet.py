"""The desk books for a caller, end to end: live daphne, real Socket.IO clients, exact
recipients (issue 12)."""

from __future__ import annotations

import pytest

from .rt import Party, assert_payload
from .test_realtime_events import EVERYONE, assert_no_patient_data, assert_only, by_id

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture
async def party(live):
    party = Party(live.url)
    yield party
    await party.close()


async def test_the_desk_books_for_a_patient_confirmed_at_once(party):
    await party.connect(*EVERYONE)
    slot = party.publish("martin")
    # Alice never booked here: the desk proves it knows her e-mail, then books for her.
    status, body = party.api("secretariat", "POST", "patients/", {
        "first_name": "Alice", "last_name": "Durand", "telephone": "06 12 34 56 78", "email": "alice@demo.fr"})
    assert (status, body["code"], body["details"]) == (409, "patient_existant", {"patient": party.id("alice")})
    status, rdv = party.api("secretariat", "POST", "rendezvous/", {"creneau": slot["id"], "patient": party.id("alice")})
    assert status == 201, rdv
    assert rdv["statut"] == "CONFIRME" and rdv["pris_par"] == party.id("secretariat")

    (created,) = await party.clients["alice"].wait_for("rendezvous:created", by_id(rdv["id"]))
    assert_payload(created, type_="success", message="Rendez-vous créé avec succès", data=rdv)
    for who in ("martin", "secretariat"):
        (new,) = await party.clients[who].wait_for("rendezvous:new", by_id(rdv["id"]))
        assert_payload(new, type_="info", message="Nouveau rendez-vous confirmé (pris par le cabinet)", data=rdv)
        assert new["data"]["statut"] == "CONFIRME"
    await party.barrier()
    assert_only(party, "rendezvous:created", by_id(rdv["id"]), {"alice": 1})
    assert_only(party, "rendezvous:new", by_id(rdv["id"]), {"martin": 1, "secretariat": 1})
    # Born confirmed: no rendezvous:confirmed follows.
    assert_only(party, "rendezvous:confirmed", by_id(rdv["id"]), {})
    for who in ("bob", "chloe"):
        assert_no_patient_data(party, who, "alice")
