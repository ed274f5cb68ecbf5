"""Nothing lost while offline: replay on reconnect, the notification centre, reminders
sent by racing processes. Real daphne processes, real clients, events committed from
another process while the client is away."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, timedelta

import pytest

from .conftest import has_postgres
from .live import ROOT, http, start_stack
from .rt import Party, Recorder, fresh_slot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

BROADCAST = (
    "from realtime.services import broadcast; from rendezvous.models import User; "
    "admin = User.objects.filter(role='SUPERADMIN').first(); "
    "[broadcast(acteur=admin, message=m, role='PATIENT') for m in {messages!r}]"
)


def broadcast_elsewhere(stack, messages: list[str]) -> None:
    """Commit broadcasts from a third process (a manage.py command)."""
    stack.manage("shell", "-c", BROADCAST.format(messages=messages))


async def replay_scenario(stack, reconnect_url: str) -> None:
    party = Party(stack.url)
    (alice,) = await party.connect("alice")
    tag = uuid.uuid4().hex[:8]
    party.api("admin", "POST", "notifications/broadcast/", {"message": f"{tag}-avant", "role": "PATIENT"})
    (before,) = await alice.wait_for("notification:general", lambda p: p["message"] == f"{tag}-avant")
    await alice.close()

    missed = [f"{tag}-absent-{i}" for i in range(5)]
    await asyncio.to_thread(broadcast_elsewhere, stack, missed)

    back = Recorder("alice-back")
    await back.connect(reconnect_url, auth={"token": party.token("alice"), "lastEventId": before["eventId"]})
    try:
        status, _ = await asyncio.to_thread(
            party.api, "admin", "POST", "notifications/broadcast/",
            {"message": f"{tag}-apres", "role": "PATIENT"}, reconnect_url,
        )
        assert status == 201
        await back.wait_for("notification:general", lambda p: p["message"] == f"{tag}-apres")
        await party.barrier([back], url=reconnect_url)
        mine = [p for p in back.named("notification:general") if p["message"].startswith(tag)]
        # Exactly the missed events, in commit order, then the live one; none twice.
        assert [p["message"] for p in mine] == missed + [f"{tag}-apres"]
        ids = [p["eventId"] for _, p in back.events if isinstance(p, dict) and "eventId" in p]
        assert ids == sorted(ids) and len(ids) == len(set(ids))
        assert all(i > before["eventId"] for i in ids)
    finally:
        await back.close()


async def test_replay_after_reconnect_embedded(live):
    await replay_scenario(live, live.url)


async def test_replay_across_servers_with_redis(cluster):
    """Away from server 0, events committed by a third process, back on server 1."""
    await replay_scenario(cluster, cluster.servers[1].url)


async def test_no_replay_without_last_event_id(live):
    party = Party(live.url)
    tag = uuid.uuid4().hex[:8]
    await asyncio.to_thread(broadcast_elsewhere, live, [f"{tag}-vieux"])
    (alice,) = await party.connect("alice")
    try:
        await party.barrier([alice])
        assert not [p for p in alice.named("notification:general") if p["message"].startswith(tag)]
    finally:
        await alice.close()


@pytest.mark.parametrize("bad", ["abc", -1, 1.5, True, [1], {"x": 1}, "9" * 40])
async def test_malformed_last_event_id_is_refused_clearly(live, bad):
    party = Party(live.url)
    client = Recorder("bad-last")
    message = await client.try_connect(live.url, auth={"token": party.token("bob"), "lastEventId": bad})
    assert message == "lastEventId invalide"
    # The server keeps serving: the same user connects fine without it.
    ok = Recorder("ok")
    assert await ok.try_connect(live.url, auth={"token": party.token("bob")}) is None
    await ok.close()


async def test_offline_user_finds_broadcast_in_notification_centre(live):
    party = Party(live.url)
    tag = uuid.uuid4().hex[:8]
    token = party.token("chloe")
    status, before = http("GET", f"{live.url}/api/notifications/", token=token)
    assert status == 200
    await asyncio.to_thread(broadcast_elsewhere, live, [f"{tag}-hors-ligne"])
    party.api("admin", "POST", "notifications/broadcast/", {"message": f"{tag}-a-tous"})
    status, after = http("GET", f"{live.url}/api/notifications/?page_size=5", token=token)
    assert status == 200
    messages = [n["message"] for n in after["results"][:2]]
    assert messages == [f"{tag}-a-tous", f"{tag}-hors-ligne"]
    assert all(n["lu"] is False and n["event"] == "notification:general" for n in after["results"][:2])
    assert after["non_lues"] == before["non_lues"] + 2
    first = after["results"][0]["id"]
    assert http("POST", f"{live.url}/api/notifications/{first}/read/", {}, token=token)[0] == 204
    _, mid = http("GET", f"{live.url}/api/notifications/?page_size=5", token=token)
    assert mid["non_lues"] == after["non_lues"] - 1 and mid["results"][0]["lu"] is True
    assert http("POST", f"{live.url}/api/notifications/read-all/", {}, token=token)[0] == 200
    _, done = http("GET", f"{live.url}/api/notifications/", token=token)
    assert done["non_lues"] == 0 and all(n["lu"] for n in done["results"])
    # Another patient's centre has the role broadcast too, with its own read state.
    _, bob = http("GET", f"{live.url}/api/notifications/?page_size=5", token=party.token("bob"))
    assert bob["results"][0]["message"] == f"{tag}-a-tous" and bob["results"][0]["lu"] is False
    # A doctor sees the broadcast to everyone, never the one addressed to patients.
    _, doc = http("GET", f"{live.url}/api/notifications/?page_size=50", token=party.token("martin"))
    assert [n["message"] for n in doc["results"] if n["message"].startswith(tag)] == [f"{tag}-a-tous"]


@pytest.fixture(scope="module")
def fast_reminders(tmp_path_factory):
    """A stack whose in-server scheduler looks every second."""
    stack = start_stack(tmp_path_factory.mktemp("reminders"), postgres=has_postgres(),
                        extra_env={"REMINDER_INTERVAL_SECONDS": "1"})
    yield stack
    stack.close()


def slot_due_for_reminder(party: Party) -> dict:
    """A free slot of martin's starting in 20-55 minutes (its 60-minute reminder is due now).

    Within his weekly hours the scheduler has generated one already; outside them, publish it.
    """
    from datetime import datetime
    from urllib.parse import urlencode

    now = datetime.now(UTC).replace(microsecond=0)
    query = urlencode({"medecin": party.id("martin"), "disponible": "true",
                       "date_from": (now + timedelta(minutes=20)).isoformat(),
                       "date_to": (now + timedelta(minutes=55)).isoformat()})
    status, page = party.api("martin", "GET", f"creneaux/?{query}")
    assert status == 200, page
    if page["results"]:
        return page["results"][0]
    debut = now + timedelta(minutes=50)
    status, slot = party.api("martin", "POST", "creneaux/",
                             {"debut": debut.isoformat(), "fin": (debut + timedelta(minutes=5)).isoformat()})
    assert status == 201, slot
    return slot


async def test_scheduler_and_cron_racing_send_one_reminder(fast_reminders):
    """The in-server scheduler and three `manage.py send_reminders` at once: one reminder."""
    stack = fast_reminders
    party = Party(stack.url)
    slot = slot_due_for_reminder(party)
    (alice,) = await party.connect("alice")
    try:
        status, rdv = party.api("alice", "POST", "rendezvous/", {"creneau": slot["id"], "motif": "rappel"})
        assert status == 201, rdv
        crons = [
            subprocess.Popen([sys.executable, "manage.py", "send_reminders"], cwd=ROOT, env=stack.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        status, _ = party.api("martin", "POST", f"rendezvous/{rdv['id']}/confirm/")
        assert status == 200
        crons += [
            subprocess.Popen([sys.executable, "manage.py", "send_reminders"], cwd=ROOT, env=stack.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(3)
        ]
        for proc in crons:
            assert proc.wait(60) == 0, proc.stderr.read()
        (reminder,) = await alice.wait_for("rappel:reminder", lambda p: p["data"]["id"] == rdv["id"])
        assert reminder["type"] == "info" and reminder["data"]["rappel_minutes"] == 60
        assert reminder["message"].startswith("Rappel : rendez-vous le ")
        await asyncio.sleep(2.5)  # two more scheduler passes
        await party.barrier([alice])
        assert len(alice.matching("rappel:reminder", lambda p: p["data"]["id"] == rdv["id"])) == 1
        _, centre = http("GET", f"{stack.url}/api/notifications/?page_size=50", token=party.token("alice"))
        assert len([n for n in centre["results"] if n["event"] == "rappel:reminder"
                    and n["data"]["id"] == rdv["id"]]) == 1
    finally:
        await alice.close()


def test_fresh_slot_helper_is_unique():
    assert fresh_slot() != fresh_slot()
