"""The hold check bookings and moves make, inside their transaction (no events here).

``rendezvous.services`` calls ``consommer_ou_refuser`` once it holds the slot's row lock
(``_hold_creneau``: FOR SHARE); taking a hold locks the row FOR UPDATE, so a hold and a
booking of one slot are decided in one order by the database: the booking sees the
committed hold (409 ``creneau_retenu``), or the hold sees the committed booking.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from medical_booking.errors import CreneauRetenu
from rendezvous.models import Creneau, User

from .models import InscriptionAttente, Retenue


def vivante(now: datetime | None = None) -> Q:
    """A hold that still binds: active and not past its time (whatever the scheduler did)."""
    return Q(active=True, expire_at__gt=now or timezone.now())


def vivantes(now: datetime | None = None) -> QuerySet[Retenue]:
    return Retenue.objects.filter(vivante(now))


def consommer_ou_refuser(creneau: Creneau, patient: User) -> None:
    """In a booking's (or move's) transaction, after its lock on the slot: a live hold of
    another patient refuses it (``CreneauRetenu``); the patient's own hold is used up (an
    offer from the waiting list then serves its entry)."""
    now = timezone.now()
    retenue = vivantes(now).filter(creneau_id=creneau.pk).first()
    if retenue is None:
        return
    if retenue.patient_id != patient.pk:
        raise CreneauRetenu(creneau=creneau)
    Retenue.objects.filter(pk=retenue.pk).update(active=False, issue=Retenue.Issue.CONSOMMEE)
    if retenue.offre_id is not None:
        InscriptionAttente.objects.filter(pk=retenue.offre_id).update(active=False, servie_at=now)
