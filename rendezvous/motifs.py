"""Writes on a doctor's visit reasons: add, change, retire (never delete: bookings name them)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from medical_booking.errors import Conflit, PermissionRefusee

from . import policies
from .models import Medecin, Motif, User


def motifs_visibles(user: User, medecin: Medecin) -> QuerySet[Motif]:
    """Those who run the agenda see every active reason; anyone else, those open online."""
    qs = Motif.objects.filter(medecin=medecin, actif=True).order_by("libelle", "id")
    if policies.can_manage_agenda(user, medecin):
        return qs
    return qs.filter(en_ligne=True)


def _check(acteur: User, medecin: Medecin) -> None:
    if not policies.can_manage_agenda(acteur, medecin):
        raise PermissionRefusee("Seuls le médecin et les administrateurs de son cabinet gèrent ses motifs")


def _existant(medecin: Medecin, libelle: str, sauf: int | None = None) -> None:
    """An active reason of this doctor with the same label (whatever the case) is a 409."""
    autre = Motif.objects.filter(medecin=medecin, actif=True, libelle__iexact=libelle).exclude(pk=sauf).first()
    if autre is not None:
        raise Conflit("Ce médecin a déjà un motif actif de ce libellé", code="motif_existant",
                      details={"motif": autre.pk})


def creer_motif(*, acteur: User, medecin: Medecin, libelle: str, duree_minutes: int,
                nouveaux_patients: bool = True, en_ligne: bool = True) -> Motif:
    _check(acteur, medecin)
    libelle = " ".join(libelle.split())
    _existant(medecin, libelle)
    try:
        with transaction.atomic():
            return Motif.objects.create(medecin=medecin, libelle=libelle, duree_minutes=duree_minutes,
                                        nouveaux_patients=nouveaux_patients, en_ligne=en_ligne)
    except IntegrityError:  # the same label added at the same moment (the partial unique index)
        _existant(medecin, libelle)
        raise


def modifier_motif(*, acteur: User, motif: Motif, **champs) -> Motif:
    _check(acteur, motif.medecin)
    if "libelle" in champs:
        champs["libelle"] = " ".join(champs["libelle"].split())
        _existant(motif.medecin, champs["libelle"], sauf=motif.pk)
    changed = [k for k, v in champs.items() if getattr(motif, k) != v]
    for k in changed:
        setattr(motif, k, champs[k])
    if changed:
        try:
            with transaction.atomic():
                motif.save(update_fields=changed)
        except IntegrityError:
            _existant(motif.medecin, motif.libelle, sauf=motif.pk)
            raise
    return motif


def retirer_motif(*, acteur: User, motif: Motif) -> Motif:
    """Deactivate: past and upcoming bookings keep naming it; no new booking can."""
    _check(acteur, motif.medecin)
    if motif.actif:
        motif.actif = False
        motif.save(update_fields=["actif"])
    return motif
