"""Reminders of confirmed bookings (``rappel:reminder``), by default 24 h and 1 h before.

Safe to run from any number of processes at once (the in-server scheduler and
``manage.py send_reminders`` from cron): a reminder is a ``Rappel`` row, unique per
booking, offset and booked time, written in the transaction that emits it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Cabinet, Rappel, RendezVous, StatutRendezVous


def offsets_of(cabinet: Cabinet) -> list[int]:
    raw = cabinet.rappel_offsets if isinstance(cabinet.rappel_offsets, list) else []
    return sorted({int(o) for o in raw if isinstance(o, int) and 0 < o <= 60 * 24 * 30}, reverse=True)


def send_due_reminders(now: datetime | None = None) -> int:
    """Send every reminder whose time has come; returns how many were sent.

    A reminder missed while no sender ran is still sent if the booking is ahead; when
    several are overdue at once only the nearest is sent, the others are marked IGNORE.
    """
    now = now or timezone.now()
    horizon = max((max(offsets_of(c), default=0) for c in Cabinet.objects.all()), default=0)
    if horizon == 0:
        return 0
    candidates = (
        RendezVous.objects.filter(
            statut=StatutRendezVous.CONFIRME,
            creneau__debut__gt=now,
            creneau__debut__lte=now + timedelta(minutes=horizon),
        )
        .select_related("creneau__medecin__cabinet")
        .prefetch_related("rappels")
        .order_by("creneau__debut", "pk")
    )
    sent = 0
    for rdv in candidates:
        remaining = rdv.creneau.debut - now
        due = [o for o in offsets_of(rdv.creneau.medecin.cabinet) if remaining <= timedelta(minutes=o)]
        if not due:
            continue
        # Reminders of the booking's current time only: after a move, the old time's
        # reminders neither count nor get sent again.
        done = {r.offset_minutes for r in rdv.rappels.all() if r.debut == rdv.creneau.debut}
        nearest = min(due)
        for offset in sorted(set(due) - done, reverse=True):
            statut = Rappel.Statut.ENVOYE if offset == nearest else Rappel.Statut.IGNORE
            if _claim(rdv, offset, statut, now):
                sent += statut == Rappel.Statut.ENVOYE
    return sent


def _claim(rdv: RendezVous, offset: int, statut: str, now: datetime) -> bool:
    try:
        with transaction.atomic():
            # Re-check inside the transaction: cancelled or moved since the candidates query?
            # The booking's row is locked (as cancel and move lock it): a move committing
            # meanwhile cannot leave a reminder of the time it left.
            if not RendezVous.objects.select_for_update().filter(
                pk=rdv.pk, statut=StatutRendezVous.CONFIRME, creneau_id=rdv.creneau_id
            ).values_list("pk", flat=True).first():
                return False
            Rappel.objects.create(
                rendezvous=rdv, offset_minutes=offset, debut=rdv.creneau.debut, statut=statut, created_at=now
            )
            return True
    except IntegrityError:  # another sender got there first
        return False

