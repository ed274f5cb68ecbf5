"""The outbox's hook on the event log: a persistent event to a patient's personal room
whose name is a message type (``contenu.TYPES``) writes that patient's e-mail/SMS rows,
in the same transaction as the event (``realtime.signals.events_written``)."""

from __future__ import annotations

from django.dispatch import receiver
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from realtime.signals import events_written
from rendezvous.models import Creneau, RendezVous, Role, User

from . import contenu
from .services import notifier

PATIENT_ROOM = "patient:"


@receiver(events_written, dispatch_uid="outbox.events_written")
def on_events_written(sender, events, rooms, **kwargs) -> None:
    for event, event_rooms in zip(events, rooms, strict=True):
        if not event.notify or event.name not in contenu.TYPES:
            continue
        patients = [int(room[len(PATIENT_ROOM):]) for room in event_rooms
                    if room.startswith(PATIENT_ROOM) and room[len(PATIENT_ROOM):].isdigit()]
        if event.name == "creneau:offered":
            _offre(event, patients)
            continue
        rdv_id = event.data.get("id") if isinstance(event.data, dict) else None
        if not patients or not isinstance(rdv_id, int):
            continue
        rdv = (RendezVous.objects.select_related("patient", "motif_consultation", "ancien_creneau__medecin__cabinet",
                                                 "creneau__medecin__user", "creneau__medecin__cabinet")
               .filter(pk=rdv_id).first())
        if rdv is None:
            continue
        for user in User.objects.filter(pk__in=patients, role=Role.PATIENT):
            notifier(event.name, user, rendezvous=rdv, cle=f"{event.name}:{rdv.pk}:{event.pk}")


def _offre(event, patients: list[int]) -> None:
    """A waiting-list offer (attente/): about a slot, held until ``expire_at``."""
    creneau_id = (event.data.get("creneau") or {}).get("id")
    creneau = Creneau.objects.select_related("medecin__user", "medecin__cabinet").filter(pk=creneau_id).first()
    if creneau is None:
        return
    tz = creneau.medecin.cabinet.tzinfo
    expire_at = parse_datetime(event.data.get("expire_at") or "")
    contexte: dict = {}
    if expire_at is not None:
        contexte["phrase"] = (f"{contenu.TYPES[event.name].phrase} Il vous est réservé jusqu'à "
                              f"{timezone.localtime(expire_at, tz):%H}h{timezone.localtime(expire_at, tz):%M}.")
    for user in User.objects.filter(pk__in=patients, role=Role.PATIENT):
        notifier(event.name, user, creneau=creneau, contexte=contexte, cle=f"{event.name}:{creneau.pk}:{event.pk}")
