"""What is published: practices with a doctor, active doctors, and their free slots.

A constant number of queries whatever the number of rows: one for the practices, one for
the doctors (with user and practice joined), one for the slots (plain value tuples, no
model instances: 10,000 slots are read in one go).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connections
from django.db.models import Exists, OuterRef, QuerySet

from rendezvous.models import ACTIVE_STATUTS, Cabinet, Creneau, Medecin, RendezVous

SlotRow = tuple[int, datetime, datetime, int]  # id, debut, fin, medecin_id


def cabinets() -> QuerySet[Cabinet]:
    """Practices where at least one active doctor works (the others offer nothing)."""
    actifs = Medecin.objects.filter(cabinet=OuterRef("pk"), user__is_active=True)
    return Cabinet.objects.filter(Exists(actifs)).order_by("pk")


def medecins() -> list[Medecin]:
    """Active doctors, with what their Practitioner/Schedule and slots need (one query)."""
    return list(
        Medecin.objects.filter(user__is_active=True)
        .select_related("user", "cabinet")
        .only("pk", "specialite", "rpps", "cabinet_id", "user__first_name", "user__last_name",
              "cabinet__nom", "cabinet__telephone", "cabinet__timezone", "cabinet__preavis_minimum_minutes")
        .order_by("pk")
    )


def horizon(now: datetime) -> datetime:
    """The end of the published window: the slot generation's horizon (CRENEAUX_HORIZON_SEMAINES)."""
    return now + timedelta(weeks=settings.CRENEAUX_HORIZON_SEMAINES)


def free_slot_rows(now: datetime, medecins_by_id: dict[int, Medecin]) -> list[SlotRow]:
    """Free slots of the given doctors that a patient could book online now: active, no
    pending or confirmed booking, starting after now plus the practice's minimum notice
    (``preavis_minimum_minutes``) and before the horizon; ordered by start."""
    booked = RendezVous.objects.filter(creneau=OuterRef("pk"), statut__in=ACTIVE_STATUTS)
    queryset = (
        Creneau.objects.filter(actif=True, debut__gt=now, debut__lt=horizon(now), medecin__user__is_active=True)
        .filter(~Exists(booked))
        .order_by("debut", "id")
        .values_list("id", "debut", "fin", "medecin_id")
    )
    # The ORM's SQL, read with the bare cursor: Django's per-value datetime converters
    # cost more than the query itself on 10,000 rows. Stored times are UTC (USE_TZ):
    # SQLite gives them naive, PostgreSQL aware; both end aware in UTC.
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    earliest = {
        pk: now + timedelta(minutes=m.cabinet.preavis_minimum_minutes) for pk, m in medecins_by_id.items()
    }
    out = []
    for pk, debut, fin, medecin_id in rows:
        debut, fin = _utc(debut), _utc(fin)
        if medecin_id in earliest and debut > earliest[medecin_id]:
            out.append((pk, debut, fin, medecin_id))
    return out


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
