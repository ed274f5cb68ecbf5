"""Who may do what: one place for the role table of SPEC."""

from __future__ import annotations

from .models import Medecin, RendezVous, Role, User


def can_manage_agenda(user: User, medecin: Medecin) -> bool:
    """The doctor, their practice's admins and super admins run a doctor's agenda."""
    if user.role == Role.SUPERADMIN:
        return True
    if user.role == Role.MEDECIN:
        return user.pk == medecin.user_id
    if user.role == Role.ADMINCABINET:
        return user.cabinet_id is not None and user.cabinet_id == medecin.cabinet_id
    return False


def can_see_rendezvous(user: User, rdv: RendezVous) -> bool:
    return user.pk == rdv.patient_id or can_manage_agenda(user, rdv.creneau.medecin)


def can_cancel_rendezvous(user: User, rdv: RendezVous) -> bool:
    return can_see_rendezvous(user, rdv)


def can_confirm_rendezvous(user: User, rdv: RendezVous) -> bool:
    return can_manage_agenda(user, rdv.creneau.medecin)
