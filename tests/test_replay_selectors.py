"""The two reads of a socket connect, in SQL (realtime/selectors.py): each gives what its
ORM form gives, on SQLite and PostgreSQL, in one query."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from realtime.models import Event, EventRoom, RevokedSession, TokenVersion
from realtime.selectors import events_addressed_to, events_after, identity_row
from tests import factories as f

pytestmark = pytest.mark.django_db


def event(rooms: list[str] | None, age_hours: float = 0, data=None) -> Event:
    e = Event.objects.create(
        name="notification:general",
        type="info",
        message=f"m{rooms}",
        data=data if data is not None else {"cible": rooms},
        to_everyone=rooms is None,
    )
    EventRoom.objects.bulk_create([EventRoom(event=e, room=r) for r in rooms or []])
    if age_hours:
        Event.objects.filter(pk=e.pk).update(created_at=timezone.now() - timedelta(hours=age_hours))
    return Event.objects.get(pk=e.pk)


def orm(rooms, last, since, limit):
    return list(events_addressed_to(rooms).filter(pk__gt=last, created_at__gte=since).order_by("pk")[:limit])


def test_events_after_is_the_orm_replay_query():
    mine = ["user:7", "patient:7", "role:PATIENT"]
    first = event(["user:7"])
    event(None, age_hours=30)  # to everyone, older than the retention: not replayed
    event(["user:8", "patient:8"])  # someone else's
    both = event(["user:7", "role:PATIENT"])  # two of my rooms: once
    event(None, data={"é": ["ünïcode", 1, None, True]})
    event(["role:MEDECIN"])
    event(["patient:7"], age_hours=1)
    event(["role:PATIENT"])
    since = timezone.now() - timedelta(hours=24)
    for rooms, last, limit in (
        (mine, 0, 100),
        (mine, first.pk, 100),
        (mine, both.pk, 100),
        (mine, 0, 2),
        (["user:8"], 0, 100),
        (["nobody"], 0, 100),
        (mine, 10**12, 100),
    ):
        with CaptureQueriesContext(connection) as queries:
            got = events_after(rooms, last, since, limit)
        want = orm(rooms, last, since, limit)
        assert [e.payload() for e in got] == [e.payload() for e in want], (rooms, last, limit)
        assert [(e.name, e.notify, e.to_everyone) for e in got] == [(e.name, e.notify, e.to_everyone) for e in want]
        assert len(queries) == 1
    assert [e.pk for e in events_after(mine, 0, since, 100)] == [e.pk for e in orm(mine, 0, since, 100)] != []
    assert events_after([], 0, since, 100) == []


def test_identity_row_reads_user_version_and_revocation_in_one_query():
    p = f.patient()
    with CaptureQueriesContext(connection) as queries:
        row = identity_row(str(p.pk), "a-session", None)
    assert len(queries) == 1
    assert (row.pk, row.email, row.role, row.is_active, row.token_version_number, bool(row.token_revoked)) == (
        p.pk,
        p.email,
        p.role,
        True,
        0,
        False,
    )
    TokenVersion.objects.create(user=p, version=3)
    RevokedSession.objects.create(sid="a-session", user=p)
    row = identity_row(p.pk, "a-session", None)
    assert row.token_version_number == 3 and bool(row.token_revoked)
    assert not identity_row(p.pk, "another-session", None).token_revoked
    assert not identity_row(p.pk, None, "no-such-jti").token_revoked
    assert not identity_row(p.pk, "a-session", None, check=False).token_revoked
    # not a user id: no query, no error
    for bad in ("abc", "", "1.0", 2**63, -(2**63) - 1, True, None, 1.5, [1]):
        with CaptureQueriesContext(connection) as queries:
            assert identity_row(bad, None, "x") is None, bad
        assert len(queries) == 0, bad
    assert identity_row(f" {p.pk}", None, "x").pk == p.pk  # as the ORM's filter(pk=" 1") reads it
    assert identity_row(10**12, None, "x") is None
