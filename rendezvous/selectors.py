"""Reads on the agenda, scoped to what the asking user may see."""

from __future__ import annotations

from datetime import datetime

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet

from attente.retenues import vivantes

from .models import ACTIVE_STATUTS, Creneau, Medecin, RendezVous, Role, User


def medecins() -> QuerySet[Medecin]:
    return Medecin.objects.select_related("user", "cabinet").filter(user__is_active=True)


def with_disponibilite(queryset: QuerySet[Creneau], now: datetime | None = None) -> QuerySet[Creneau]:
    """Annotate ``reserve`` so listing slots costs one query, not one per slot: booked, or
    held for a patient (``attente.Retenue``, while it has not lapsed at ``now``)."""
    active = RendezVous.objects.filter(creneau=OuterRef("pk"), statut__in=ACTIVE_STATUTS)
    held = vivantes(now).filter(creneau=OuterRef("pk"))
    return queryset.annotate(reserve=ExpressionWrapper(Q(Exists(active)) | Q(Exists(held)),
                                                       output_field=BooleanField()))


def creneaux(*, withdrawn: bool = False) -> QuerySet[Creneau]:
    """Published slots; ``withdrawn=True`` includes withdrawn ones (a booking attempt on a
    withdrawn slot is a conflict carrying the slot, not an unknown id)."""
    qs = Creneau.objects.select_related("medecin__cabinet")
    if not withdrawn:
        qs = qs.filter(actif=True)
    return with_disponibilite(qs)


def rendezvous_visibles(user: User) -> QuerySet[RendezVous]:
    qs = RendezVous.objects.select_related(
        "patient", "annule_par", "creneau__medecin__user", "creneau__medecin__cabinet", "motif_consultation"
    )
    if user.role == Role.SUPERADMIN:
        return qs
    if user.role == Role.PATIENT:
        return qs.filter(patient=user)
    if user.role == Role.MEDECIN:
        return qs.filter(creneau__medecin_id=user.pk)
    if user.role == Role.ADMINCABINET:
        return qs.filter(creneau__medecin__cabinet_id=user.cabinet_id)
    return qs.none()


def admins_du_cabinet(cabinet_id: int) -> list[int]:
    return list(
        User.objects.filter(
            role=Role.ADMINCABINET, cabinet_id=cabinet_id, is_active=True
        ).values_list("pk", flat=True)
    )


def can_message(user: User, other: User) -> bool:
    """A patient and a doctor who share a booking (any status); staff of the practice."""
    if user.pk == other.pk or not other.is_active:
        return False
    if Role.SUPERADMIN in (user.role, other.role):
        return True
    pair = {user.role, other.role}
    if pair == {Role.PATIENT}:
        return False
    if Role.PATIENT in pair:
        patient, staff = (user, other) if user.role == Role.PATIENT else (other, user)
        q = Q(patient=patient)
        if staff.role == Role.MEDECIN:
            q &= Q(creneau__medecin_id=staff.pk)
        else:
            q &= Q(creneau__medecin__cabinet_id=staff.cabinet_id)
        return RendezVous.objects.filter(q).exists()
    # Two staff members: the same practice.
    return user.cabinet_id is not None and user.cabinet_id == other.cabinet_id
