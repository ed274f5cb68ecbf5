"""Writes on the notification centre: broadcast, mark read."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from medical_booking.errors import DomainError, Introuvable, PermissionRefusee
from rendezvous.models import ACTIVE_STATUTS, Cabinet, RendezVous, Role, User

from . import catalogue
from . import rooms as r
from .events import send_events
from .models import Event, NotificationCursor, NotificationRead
from .selectors import notifications_of


def broadcast(
    *, acteur: User, message: str, type: str = "info", role: str | None = None,
    user_id: int | None = None, cabinet_id: int | None = None,
) -> Event:
    """``notification:general`` to one user, a role, a practice, or everyone."""
    if type not in catalogue.TYPES:
        raise DomainError("Type de notification invalide", code="validation_error",
                          details={"type": [f"Valeurs possibles : {', '.join(catalogue.TYPES)}"]})
    targets = [t for t in (role, user_id, cabinet_id) if t is not None]
    if len(targets) > 1:
        raise DomainError("Choisissez une seule cible : role, user ou cabinet",
                          code="validation_error")
    if acteur.role == Role.ADMINCABINET:
        if role is not None or user_id is not None:
            raise PermissionRefusee("Un cabinet ne diffuse qu'à son propre cabinet")
        if cabinet_id is not None and cabinet_id != acteur.cabinet_id:
            raise PermissionRefusee("Un cabinet ne diffuse qu'à son propre cabinet")
        cabinet_id = acteur.cabinet_id
    elif acteur.role != Role.SUPERADMIN:
        raise PermissionRefusee("Seuls les administrateurs diffusent des notifications")

    if role is not None:
        if role not in Role.values:
            raise DomainError("Rôle inconnu", code="validation_error", details={"role": [role]})
        rooms, cible = [r.role_room(role)], {"role": role}
    elif user_id is not None:
        if not User.objects.filter(pk=user_id, is_active=True).exists():
            raise Introuvable("Utilisateur introuvable")
        rooms, cible = [r.user_room(user_id)], {"user": user_id}
    elif cabinet_id is not None:
        if not Cabinet.objects.filter(pk=cabinet_id).exists():
            raise Introuvable("Cabinet introuvable")
        patients = RendezVous.objects.filter(
            creneau__medecin__cabinet_id=cabinet_id, statut__in=ACTIVE_STATUTS,
            creneau__debut__gt=timezone.now(),
        ).values_list("patient_id", flat=True).distinct()
        rooms = [r.cabinet_room(cabinet_id)] + [r.user_room(p) for p in patients]
        cible = {"cabinet": cabinet_id}
    else:
        rooms, cible = None, {"tous": True}
    with transaction.atomic():
        (event,) = send_events(catalogue.broadcast_events(message, type, rooms, cible))
    return event


def mark_notification_read(*, user: User, event_id: int) -> None:
    if not notifications_of(user).filter(pk=event_id).exists():
        raise Introuvable("Notification introuvable")
    NotificationRead.objects.get_or_create(user=user, event_id=event_id)


def mark_all_read(*, user: User) -> int:
    """Moves the user's cursor to the newest notification: one row, whatever the count."""
    newest = notifications_of(user).aggregate(m=Max("id"))["m"] or 0
    cursor, _ = NotificationCursor.objects.get_or_create(user=user)
    if newest > cursor.read_up_to:
        NotificationCursor.objects.filter(pk=user.pk, read_up_to__lt=newest).update(read_up_to=newest)
    return newest
