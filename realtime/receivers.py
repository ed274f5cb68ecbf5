"""Thin receivers: a domain fact in, catalogue emissions out (published on commit)."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from messagerie.models import Message
from messagerie.signals import messages_read
from rendezvous.models import Creneau, Rappel, RendezVous
from rendezvous.signals import (
    access_revoked,
    creneau_conflict,
    creneaux_publies,
    creneaux_retires,
    rendezvous_moved,
)

from . import catalogue
from .auth import revoke_user
from .events import send_events


@receiver(post_save, sender=RendezVous, dispatch_uid="realtime.rendezvous")
def on_rendezvous_saved(sender, instance: RendezVous, created: bool, **kwargs) -> None:
    send_events(catalogue.rendezvous_events(instance, created=created))
    instance._statut_initial = instance.statut


@receiver(rendezvous_moved, dispatch_uid="realtime.rendezvous_moved")
def on_rendezvous_moved(sender, rdv: RendezVous, ancien: Creneau, **kwargs) -> None:
    send_events(catalogue.move_events(rdv, ancien))


@receiver(post_save, sender=Creneau, dispatch_uid="realtime.creneau")
def on_creneau_saved(sender, instance: Creneau, created: bool, update_fields=None, **kwargs) -> None:
    if created or update_fields is None or "actif" in update_fields:
        send_events(catalogue.creneau_events(instance, created=created))


@receiver(creneaux_publies, dispatch_uid="realtime.creneaux_publies")
def on_creneaux_publies(sender, creneaux: list[Creneau], **kwargs) -> None:
    """Slots inserted together (generation): the events a save of each would send, in
    one write."""
    send_events([e for c in creneaux for e in catalogue.creneau_events(c, created=True)])


@receiver(creneaux_retires, dispatch_uid="realtime.creneaux_retires")
def on_creneaux_retires(sender, creneaux: list[Creneau], **kwargs) -> None:
    send_events([e for c in creneaux for e in catalogue.creneau_events(c, created=False)])


@receiver(post_save, sender=Message, dispatch_uid="realtime.message")
def on_message_saved(sender, instance: Message, created: bool, **kwargs) -> None:
    if not created:
        return
    recipients = list(
        instance.conversation.participation_set.exclude(user_id=instance.auteur_id)
        .values_list("user_id", flat=True)
    )
    send_events(catalogue.message_events(instance, recipients))


@receiver(creneau_conflict, dispatch_uid="realtime.conflict")
def on_creneau_conflict(sender, creneau: Creneau, requester, **kwargs) -> None:
    send_events(catalogue.conflict_events(creneau, requester))


@receiver(messages_read, dispatch_uid="realtime.read")
def on_messages_read(sender, conversation, lecteur, message_ids, auteurs, lu_at, **kwargs) -> None:
    send_events(catalogue.read_events(conversation.pk, lecteur, message_ids, auteurs, lu_at))


@receiver(post_save, sender=Rappel, dispatch_uid="realtime.rappel")
def on_rappel_saved(sender, instance: Rappel, created: bool, **kwargs) -> None:
    if created and instance.statut == Rappel.Statut.ENVOYE:
        send_events(catalogue.reminder_events(instance.rendezvous, instance.offset_minutes))


@receiver(access_revoked, dispatch_uid="realtime.access_revoked")
def on_access_revoked(sender, user, **kwargs) -> None:
    revoke_user(user.pk)
