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
    sent = 0
    for rdv in _candidates(now):
        pending, nearest = _pending(rdv, now)
        for offset in pending:
            statut = Rappel.Statut.ENVOYE if offset == nearest else Rappel.Statut.IGNORE
            if _claim(rdv, offset, statut, now):
                sent += statut == Rappel.Statut.ENVOYE
    return sent


def _candidates(now: datetime):
    """Confirmed bookings ahead within the largest reminder offset of any practice."""
    horizon = max((max(offsets_of(c), default=0) for c in Cabinet.objects.all()), default=0)
    if horizon == 0:
        return RendezVous.objects.none()
    return (
        RendezVous.objects.filter(
            statut=StatutRendezVous.CONFIRME,
            creneau__debut__gt=now,
            creneau__debut__lte=now + timedelta(minutes=horizon),
        )
        .select_related("creneau__medecin__cabinet")
        .prefetch_related("rappels")
        .order_by("creneau__debut", "pk")
    )


def _pending(rdv: RendezVous, now: datetime) -> tuple[list[int], int | None]:
    """The booking's due offsets without a ``Rappel`` yet (largest first), and the nearest
    due offset (the one that is sent; the others are marked IGNORE)."""
    remaining = rdv.creneau.debut - now
    due = [o for o in offsets_of(rdv.creneau.medecin.cabinet) if remaining <= timedelta(minutes=o)]
    if not due:
        return [], None
    # Reminders of the booking's current time only: after a move, the old time's
    # reminders neither count nor get sent again.
    done = {r.offset_minutes for r in rdv.rappels.all() if r.debut == rdv.creneau.debut}
    return sorted(set(due) - done, reverse=True), min(due)


def reminder_backlog(now: datetime | None = None) -> int:
    """Bookings with a due reminder not handled yet (neither sent nor skipped for a nearer
    one): the work of the next pass.

    Read at each /metrics scrape (operations/collectors.py): a backlog that stays above
    zero means no sender runs, or its passes fail."""
    now = now or timezone.now()
    return sum(1 for rdv in _candidates(now) if _pending(rdv, now)[0])


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

