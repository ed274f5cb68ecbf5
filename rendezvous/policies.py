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


def can_book_for_patient(user: User, medecin: Medecin) -> bool:
    """Staff book for a patient in their own practice: its admins and any of its doctors
    (a colleague's agenda included: the desk is shared), and super admins."""
    if user.role == Role.SUPERADMIN:
        return True
    if user.role in (Role.MEDECIN, Role.ADMINCABINET):
        return user.cabinet_id is not None and user.cabinet_id == medecin.cabinet_id
    return False


def can_read_regles(user: User, cabinet_id: int) -> bool:
    """A practice's rules, as an editable form: its staff and super admins (everyone else
    reads them read-only inside the practice's and doctors' payloads)."""
    if user.role == Role.SUPERADMIN:
        return True
    return user.role in (Role.MEDECIN, Role.ADMINCABINET) and user.cabinet_id == cabinet_id


def can_write_regles(user: User, cabinet_id: int) -> bool:
    if user.role == Role.SUPERADMIN:
        return True
    return user.role == Role.ADMINCABINET and user.cabinet_id == cabinet_id
