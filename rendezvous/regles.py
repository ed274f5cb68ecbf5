"""A practice's rules and the booking-side refusals they cause (SPEC "Practice workflow").

The rules bind patients booking online; the practice's staff booking for a patient are
bound only by the slot's length against the visit reason's duration. Each check raises
a ``DomainError`` with its code before anything is written; ``check_limite`` runs
inside the booking's transaction and locks the patient's row, so two concurrent
bookings of one patient cannot both pass it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from medical_booking.errors import Conflit, DomainError, PermissionRefusee

from . import policies
from .models import ACTIVE_STATUTS, Cabinet, Creneau, Medecin, Motif, RendezVous, User

REGLES = ("delai_annulation_heures", "preavis_minimum_minutes", "max_rdv_a_venir")


def regles_de(cabinet: Cabinet) -> dict:
    return {name: getattr(cabinet, name) for name in REGLES}


def annulable_jusqu_a(rdv: RendezVous) -> datetime | None:
    """The last moment a patient may cancel or move this booking (None once cancelled)."""
    if not rdv.est_actif:
        return None
    return rdv.creneau.debut - timedelta(hours=rdv.creneau.medecin.cabinet.delai_annulation_heures)


def modifier_regles(*, acteur: User, cabinet: Cabinet, **regles) -> Cabinet:
    if not policies.can_write_regles(acteur, cabinet.pk):
        raise PermissionRefusee("Seul un administrateur du cabinet modifie ses règles")
    changed = [name for name in REGLES if name in regles and getattr(cabinet, name) != regles[name]]
    if changed:
        for name in changed:
            setattr(cabinet, name, regles[name])
        cabinet.save(update_fields=changed)
    return cabinet


def modifier_nouveaux_patients(*, acteur: User, medecin: Medecin, accepte: bool) -> Medecin:
    if not policies.can_manage_agenda(acteur, medecin):
        raise PermissionRefusee("Vous ne gérez pas l'agenda de ce médecin")
    if medecin.nouveaux_patients_en_ligne != accepte:
        medecin.nouveaux_patients_en_ligne = accepte
        medecin.save(update_fields=["nouveaux_patients_en_ligne"])
    return medecin


def check_motif(creneau: Creneau, motif: Motif | None, *, en_ligne: bool) -> None:
    """The visit reason fits the slot: the doctor's, active (and open online for a patient),
    given when the doctor has any open online, no longer than the slot."""
    medecin_id = creneau.medecin_id
    if motif is None:
        if en_ligne and Motif.objects.filter(medecin_id=medecin_id, actif=True, en_ligne=True).exists():
            raise DomainError("Choisissez un motif de consultation", code="motif_requis")
        return
    if motif.medecin_id != medecin_id or not motif.actif or (en_ligne and not motif.en_ligne):
        raise DomainError("Motif de consultation inconnu pour ce médecin", code="motif_inconnu",
                          details={"motif_consultation": motif.pk})
    duree = creneau.fin - creneau.debut
    if duree < timedelta(minutes=motif.duree_minutes):
        raise Conflit(
            f"Ce créneau est trop court pour ce motif ({motif.duree_minutes} min)",
            code="creneau_trop_court",
            details={"duree_minutes": motif.duree_minutes, "creneau_minutes": int(duree.total_seconds() // 60)},
        )


def check_preavis(creneau: Creneau) -> None:
    """Online booking (and a patient's move) closes ``preavis_minimum_minutes`` before."""
    minutes = creneau.medecin.cabinet.preavis_minimum_minutes
    if minutes and creneau.debut < timezone.now() + timedelta(minutes=minutes):
        raise Conflit(
            f"Ce créneau ne se réserve plus en ligne : réservez au moins {minutes} min à l'avance "
            "ou appelez le cabinet",
            code="preavis_insuffisant", details={"preavis_minimum_minutes": minutes},
        )


def check_nouveaux_patients(patient: User, medecin: Medecin, motif: Motif | None) -> None:
    """A patient who never had a (non-cancelled) booking with this doctor books online only
    if the doctor, and the chosen reason, accept new patients."""
    if medecin.nouveaux_patients_en_ligne and (motif is None or motif.nouveaux_patients):
        return
    connu = RendezVous.objects.filter(patient=patient, creneau__medecin=medecin, statut__in=ACTIVE_STATUTS).exists()
    if not connu:
        raise PermissionRefusee(
            "Ce médecin n'accepte pas de nouveaux patients en ligne pour ce motif : appelez le cabinet",
            code="nouveaux_patients_refuses",
        )


def check_limite(patient: User, cabinet: Cabinet) -> None:
    """At most ``max_rdv_a_venir`` active upcoming bookings per patient in the practice.

    Call inside the booking's transaction: the patient's row is locked (FOR NO KEY UPDATE,
    which leaves the foreign-key checks of other inserts alone) until commit, so a second
    booking of the same patient waits here and then counts the first.
    """
    limite = cabinet.max_rdv_a_venir
    if limite is None:
        return
    assert transaction.get_connection().in_atomic_block, "check_limite runs in the booking's transaction"
    User.objects.select_for_update(no_key=True).filter(pk=patient.pk).values_list("pk", flat=True).first()
    a_venir = RendezVous.objects.filter(
        patient=patient, statut__in=ACTIVE_STATUTS, creneau__debut__gt=timezone.now(),
        creneau__medecin__cabinet_id=cabinet.pk,
    ).count()
    if a_venir >= limite:
        raise Conflit(
            f"Vous avez déjà {a_venir} rendez-vous à venir dans ce cabinet (maximum {limite})",
            code="limite_atteinte", details={"max_rdv_a_venir": limite},
        )
