"""Facts that free a slot (a cancellation, a move away, a slot published or put back):
the slot is offered to the waiting list right after their commit, in a transaction of
its own (``services.offrir_apres_commit``). Only slots of doctors someone waits for cost
anything; the scheduler's pass is the safety net for a server killed in between."""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from rendezvous.models import Creneau, RendezVous, StatutRendezVous
from rendezvous.signals import creneaux_publies, rendezvous_moved

from .models import InscriptionAttente
from .services import offrir_apres_commit


def _attendus(medecin_ids: set[int]) -> set[int]:
    return set(InscriptionAttente.objects.filter(medecin_id__in=medecin_ids, active=True)
               .values_list("medecin_id", flat=True).distinct())


def _offrir(creneaux: list[tuple[int, int]]) -> None:
    """``(slot id, doctor id)`` pairs just freed: offered after commit if someone waits."""
    attendus = _attendus({m for _, m in creneaux}) if creneaux else set()
    for creneau_id, medecin_id in creneaux:
        if medecin_id in attendus:
            transaction.on_commit(partial(offrir_apres_commit, creneau_id))


@receiver(post_save, sender=RendezVous, dispatch_uid="attente.rendezvous")
def on_rendezvous_saved(sender, instance: RendezVous, created: bool, update_fields=None, **kwargs) -> None:
    if not created and instance.statut == StatutRendezVous.ANNULE and (
            update_fields is None or "statut" in update_fields):
        _offrir([(instance.creneau_id, instance.creneau.medecin_id)])


@receiver(rendezvous_moved, dispatch_uid="attente.rendezvous_moved")
def on_rendezvous_moved(sender, rdv: RendezVous, ancien: Creneau, **kwargs) -> None:
    _offrir([(ancien.pk, ancien.medecin_id)])


@receiver(post_save, sender=Creneau, dispatch_uid="attente.creneau")
def on_creneau_saved(sender, instance: Creneau, created: bool, update_fields=None, **kwargs) -> None:
    if instance.actif and (created or update_fields is None or "actif" in update_fields):
        _offrir([(instance.pk, instance.medecin_id)])


@receiver(creneaux_publies, dispatch_uid="attente.creneaux_publies")
def on_creneaux_publies(sender, creneaux: list[Creneau], **kwargs) -> None:
    _offrir([(c.pk, c.medecin_id) for c in creneaux if c.actif])
