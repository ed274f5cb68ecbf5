"""Reads on the event log (a user's notification centre, a socket's replay) and the socket
server's token check.

The two reads a socket connect makes (:func:`identity_row`, :func:`events_after`) are
written in SQL rather than built with the ORM: building and compiling those querysets cost
~1.2 ms of CPU each, four times the query itself, on every connect (bench/storm.py, a
reconnect storm, bench/README.md "Reconnect storm"). The SQL is the ORM's own plan
(same joins, same indexes; EXPLAIN in bench/README.md), portable to SQLite and
PostgreSQL, and tests/test_replay_selectors.py checks each against its ORM form.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from medical_booking.fields import MAX_ID
from rendezvous.models import User

from .models import Event, EventRoom, NotificationCursor, NotificationRead, RevokedSession, TokenVersion
from .rooms import auto_rooms


def events_addressed_to(rooms: list[str]) -> QuerySet[Event]:
    """Events sent to everyone or to one of ``rooms``: what a socket in them received."""
    addressed = EventRoom.objects.filter(event=OuterRef("pk"), room__in=rooms)
    return Event.objects.filter(Q(to_everyone=True) | Exists(addressed))


def notifications_of(user: User) -> QuerySet[Event]:
    """Events kept for the centre and addressed to one of the user's rooms, or to all."""
    return events_addressed_to(auto_rooms(user)).filter(
        notify=True, created_at__gte=user.date_joined
    )


def with_read_state(qs: QuerySet[Event], user: User) -> QuerySet[Event]:
    cursor = NotificationCursor.objects.filter(pk=user.pk).values_list("read_up_to", flat=True).first() or 0
    read = NotificationRead.objects.filter(event=OuterRef("pk"), user=user)
    return qs.annotate(lu_un=Exists(read)).annotate(
        lu=Q(lu_un=True) | Q(pk__lte=cursor)
    )


def unread_count(user: User) -> int:
    return with_read_state(notifications_of(user), user).filter(lu=False).count()


def events_after(rooms: list[str], last_event_id: int, since: datetime, limit: int) -> list[Event]:
    """``events_addressed_to(rooms)`` with an id above ``last_event_id``, created at or after
    ``since``, in id order, at most ``limit``: a reconnecting socket's replay.

    The plan: the event table's primary key from ``last_event_id`` on, each row checked
    against ``EventRoom``'s (event) index; a storm's sockets are a few events behind."""
    if not rooms:
        return []
    marks = ", ".join(["%s"] * len(rooms))
    sql = (
        f"SELECT e.id, e.name, e.type, e.message, e.data, e.notify, e.to_everyone, e.created_at "
        f"FROM {Event._meta.db_table} e WHERE e.id > %s AND e.created_at >= %s AND (e.to_everyone OR "
        f"EXISTS (SELECT 1 FROM {EventRoom._meta.db_table} r WHERE r.event_id = e.id AND r.room IN ({marks}))) "
        f"ORDER BY e.id LIMIT %s"
    )
    params = [last_event_id, connection.ops.adapt_datetimefield_value(since), *rooms, limit]
    return list(Event.objects.raw(sql, params))


def identity_row(user_id: object, session: str | None, jti: object, check: bool = True) -> User | None:
    """The user of a token, in one query, with ``token_version_number`` (their current token
    version, 0 without a row) and ``token_revoked`` (the session ``session`` was logged out;
    without a session, the token ``jti`` was blacklisted; never when ``check`` is False).
    None when there is no such user or ``user_id`` is not one."""
    return identity_rows([(user_id, session, jti, check)])[0]


def _user_pk(user_id: object) -> int | None:
    if isinstance(user_id, bool) or not isinstance(user_id, int | str):
        return None
    try:
        pk = int(user_id)
    except ValueError:
        return None
    return pk if 0 < pk <= MAX_ID else None  # a primary key (BIGINT, from 1): any other names no one


def identity_rows(keys: list[tuple[object, str | None, object, bool]]) -> list[User | None]:
    """:func:`identity_row` for many tokens ``(user_id, session, jti, check)`` in one query
    (a reconnect storm's token checks, ``realtime.auth.authenticate_tokens``): a row per
    key, in order, each its own ``User`` with its own ``token_revoked``."""
    wanted = []  # (key's index, pk, what to check: 0 nothing, 1 the session, 2 the jti, its value)
    for index, (user_id, session, jti, check) in enumerate(keys):
        pk = _user_pk(user_id)
        if pk is None:
            continue
        if not check:
            wanted.append((index, pk, 0, ""))
        elif session is not None:
            wanted.append((index, pk, 1, session))
        else:
            wanted.append((index, pk, 2, jti if isinstance(jti, str) else str(jti)))
    found: list[User | None] = [None] * len(keys)
    if not wanted:
        return found
    # VALUES names its columns column1..column4 in SQLite and PostgreSQL alike.
    values = ", ".join(["(%s, %s, %s, %s)"] * len(wanted))
    sql = (
        f"SELECT k.column1 AS token_key, u.*, COALESCE(v.version, 0) AS token_version_number, "
        f"CASE k.column3 "
        f"WHEN 1 THEN EXISTS (SELECT 1 FROM {RevokedSession._meta.db_table} s WHERE s.sid = k.column4) "
        f"WHEN 2 THEN EXISTS (SELECT 1 FROM {BlacklistedToken._meta.db_table} b "
        f"JOIN {OutstandingToken._meta.db_table} o ON o.id = b.token_id WHERE o.jti = k.column4) "
        f"ELSE 1 = 0 END AS token_revoked "
        f"FROM (VALUES {values}) AS k JOIN {User._meta.db_table} u ON u.id = k.column2 "
        f"LEFT JOIN {TokenVersion._meta.db_table} v ON v.user_id = u.id"
    )
    for row in User.objects.raw(sql, [value for key in wanted for value in key]):
        found[row.token_key] = row
    return found
