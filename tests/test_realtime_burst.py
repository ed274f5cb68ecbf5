"""A burst of 10,000 events committed in one transaction reaches every addressed socket,
complete and in commit order: on the in-memory layer (one process) and on Redis (two).

Channel layers drop messages silently once a channel is over capacity, so this is the
test that the capacity (settings.CHANNEL_CAPACITY) is sized for the largest transaction.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from .rt import SERIE_MINUTES, SERIE_SIZE, Party, Recorder

pytestmark = [pytest.mark.e2e]


def assert_complete_and_ordered(client: Recorder, medecin_id: int, start: datetime) -> None:
    got = [p for p in client.named("creneau:available") if p["data"]["medecin"] == medecin_id]
    assert len(got) == SERIE_SIZE, (client.name, len(got))
    ids = [p["eventId"] for p in got]
    assert all(a < b for a, b in zip(ids, ids[1:], strict=False)), f"{client.name}: eventIds out of order"
    debuts = [datetime.fromisoformat(p["data"]["debut"]) for p in got]
    expected = [start + timedelta(minutes=i * SERIE_MINUTES) for i in range(SERIE_SIZE)]
    assert debuts == expected, f"{client.name}: slots missing or out of order"
    assert all(p["type"] == "info" and p["message"] == "Nouveau créneau disponible" for p in got)
    assert len({p["data"]["id"] for p in got}) == SERIE_SIZE


async def _burst(party: Party, patients: list[Recorder], staff: list[Recorder], url: str) -> dict:
    medecin_id = party.id("bernard")
    t0 = time.monotonic()
    start, _ = await party.serie("bernard", url=url)
    committed = time.monotonic()
    for client in patients:
        await client.wait_for("creneau:available", lambda p: p["data"]["medecin"] == medecin_id,
                              count=SERIE_SIZE, timeout=240)
    delivered = time.monotonic()
    await party.barrier(patients + staff, timeout=120)
    for client in patients:
        assert_complete_and_ordered(client, medecin_id, start)
    for client in staff:
        assert not client.named("creneau:available"), client.name
    return {"commit_s": round(committed - t0, 1), "deliver_s": round(delivered - committed, 1)}


@pytest.mark.timeout(600)
async def test_burst_of_10000_events_in_memory_layer(live):
    party = Party(live.url)
    try:
        patients = await party.connect("alice", "bob")
        staff = await party.connect("martin")
        timings = await _burst(party, patients, staff, live.url)
        print(f"burst (in-memory layer): {timings}")
    finally:
        await party.close()


@pytest.mark.timeout(600)
async def test_burst_of_10000_events_across_two_servers(cluster):
    s0, s1 = cluster.servers[0].url, cluster.servers[1].url
    party = Party(s0)
    try:
        (alice,) = await party.connect("alice", url=s0, key="alice@0")
        (bob,) = await party.connect("bob", url=s1, key="bob@1")
        (chloe,) = await party.connect("chloe", url=s1, key="chloe@1", transports=["polling"])
        (martin,) = await party.connect("martin", url=s1, key="martin@1")
        timings = await _burst(party, [alice, bob, chloe], [martin], s0)
        print(f"burst (redis, two servers): {timings}")
    finally:
        await party.close()
