"""What is published: practices with a doctor, active doctors, and their free slots.

A constant number of queries whatever the number of rows: one for the practices, one for
the doctors (with user and practice joined), one for the slots (plain value tuples, no
model instances, times as integers: 10,000 slots are read in one go).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import BigIntegerField, Exists, Func, OuterRef, QuerySet, Subquery

from attente.retenues import vivantes
from rendezvous.models import ACTIVE_STATUTS, Cabinet, Creneau, Medecin, Motif, RendezVous

SlotRow = tuple[int, int, int, int]  # id, debut, fin (seconds since 1970), medecin_id


def cabinets() -> QuerySet[Cabinet]:
    """Practices where at least one active doctor works (the others offer nothing)."""
    actifs = Medecin.objects.filter(cabinet=OuterRef("pk"), user__is_active=True)
    return Cabinet.objects.filter(Exists(actifs)).order_by("pk")


def medecins() -> list[Medecin]:
    """Active doctors, with what their Practitioner/Schedule and slots need (one query).

    ``duree_min_en_ligne``: the shortest of their active visit reasons open online, None
    without any. A patient booking online must then pick one that fits the slot
    (``rendezvous.regles.check_motif``): a shorter slot is booked by phone only.
    """
    en_ligne = Motif.objects.filter(medecin=OuterRef("pk"), actif=True, en_ligne=True).order_by("duree_minutes")
    return list(
        Medecin.objects.filter(user__is_active=True)
        .select_related("user", "cabinet")
        .only("pk", "specialite", "rpps", "cabinet_id", "user__first_name", "user__last_name",
              "cabinet__nom", "cabinet__telephone", "cabinet__timezone", "cabinet__preavis_minimum_minutes")
        .annotate(duree_min_en_ligne=Subquery(en_ligne.values("duree_minutes")[:1]))
        .order_by("pk")
    )


def horizon(now: datetime) -> datetime:
    """The end of the published window: the slot generation's horizon (CRENEAUX_HORIZON_SEMAINES)."""
    return now + timedelta(weeks=settings.CRENEAUX_HORIZON_SEMAINES)


class Epoch(Func):
    """Whole seconds since 1970 of a stored instant, computed by the database.

    The slot file reads 10,000 starts and ends: as integers they cost nothing to load,
    where Django's (SQLite) or psycopg's (PostgreSQL) datetime parsing cost more than
    the query itself. The project runs on these two databases only.
    """

    output_field = BigIntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC; SQLite would round the
        # fraction to the millisecond (59.9999 s → the next second): cut it first.
        # '%%%%s': the template's % formatting, then the driver's, leave strftime's '%s'.
        return self.as_sql(compiler, connection,
                           template="CAST(strftime('%%%%s', substr(%(expressions)s, 1, 19)) AS INTEGER)", **extra)

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="CAST(FLOOR(EXTRACT(EPOCH FROM %(expressions)s)) AS BIGINT)",
                           **extra)


def free_slot_rows(now: datetime, medecins_by_id: dict[int, Medecin]) -> list[SlotRow]:
    """Free slots of the given doctors that a patient could book online now: active, no
    pending or confirmed booking, starting after now plus the practice's minimum notice
    (``preavis_minimum_minutes``) and before the horizon; ordered by start. Times are
    whole seconds since 1970 (UTC)."""
    booked = RendezVous.objects.filter(creneau=OuterRef("pk"), statut__in=ACTIVE_STATUTS)
    held = vivantes(now).filter(creneau=OuterRef("pk"))  # attente/
    rows = (
        Creneau.objects.filter(actif=True, debut__gt=now, debut__lt=horizon(now), medecin__user__is_active=True)
        .filter(~Exists(booked), ~Exists(held))
        .order_by("debut", "id")
        .values_list("id", Epoch("debut"), Epoch("fin"), "medecin_id")
    )
    earliest = {
        pk: (now + timedelta(minutes=m.cabinet.preavis_minimum_minutes)).timestamp()
        for pk, m in medecins_by_id.items()
    }
    return [row for row in rows if row[3] in earliest and row[1] > earliest[row[3]]]
