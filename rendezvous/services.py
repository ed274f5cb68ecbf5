"""Writes on the agenda: publish/withdraw slots, book, confirm, cancel.

Views, the admin, management commands and tests all call these. Real-time events are
not sent from here: ``post_save`` receivers in ``realtime`` publish them on commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from audit import journal
from medical_booking.errors import Conflit, CreneauIndisponible, DomainError, PermissionRefusee

from . import policies, regles
from .models import (
    ACTIVE_STATUTS,
    Creneau,
    Medecin,
    Motif,
    RendezVous,
    Role,
    StatutRendezVous,
    User,
)
from .signals import creneau_conflict

MAX_CRENEAU_DUREE = timedelta(hours=12)


def register_patient(
    *, email: str, password: str, first_name: str = "", last_name: str = "", telephone: str = ""
) -> User:
    email = User.objects.normalize_email(email).lower()
    if User.objects.filter(email__iexact=email).exists():
        raise Conflit("Un compte existe déjà avec cette adresse e-mail", code="email_exists")
    candidate = User(email=email, first_name=first_name, last_name=last_name)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:  # reported on the field, like the serializer's errors
        raise ValidationError({"password": exc.messages}) from exc
    # Hash before the transaction: PBKDF2 is ~0.25 s of CPU, and on SQLite the
    # transaction holds the database's write lock from BEGIN (IMMEDIATE) to COMMIT.
    password_hash = make_password(password)
    try:
        with transaction.atomic():
            return User.objects.create_user_with_hash(
                email, password_hash, first_name=first_name,
                last_name=last_name, telephone=telephone, role=Role.PATIENT,
            )
    except IntegrityError as exc:  # a concurrent registration with the same e-mail
        raise Conflit("Un compte existe déjà avec cette adresse e-mail", code="email_exists") from exc


def _check_new_period(acteur: User, medecin: Medecin, debut: datetime, fin: datetime) -> None:
    """What publishing one slot or a series requires: the agenda, an order, the future."""
    if not policies.can_manage_agenda(acteur, medecin):
        raise PermissionRefusee("Vous ne gérez pas l'agenda de ce médecin")
    if fin <= debut:
        raise DomainError("La fin doit être après le début", code="creneau_invalide")
    if debut <= timezone.now():
        raise DomainError("Un créneau ne peut pas commencer dans le passé", code="creneau_passe")


DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE


@contextmanager
def _overlap_is_conflict(message: str) -> Iterator[None]:
    """Insert slots in a transaction of their own; losing the race for the period is a 409.

    The database refuses an overlapping slot (exclusion constraint, triggers): an
    IntegrityError. On PostgreSQL, two transactions inserting overlapping slots at the
    same moment can also each wait for the other in the constraint check; PostgreSQL
    then aborts one of them as a deadlock victim, which lost the same race.
    """
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        raise Conflit(message, code="creneau_chevauchement") from exc
    except OperationalError as exc:
        cause = exc.__cause__
        if (getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)) != DEADLOCK_DETECTED:
            raise
        raise Conflit(message, code="creneau_chevauchement") from exc


def publish_creneau(*, acteur: User, medecin: Medecin, debut: datetime, fin: datetime) -> Creneau:
    _check_new_period(acteur, medecin, debut, fin)
    if fin - debut > MAX_CRENEAU_DUREE:
        raise DomainError("Un créneau dure au plus 12 heures", code="creneau_invalide")
    chevauche = Creneau.objects.filter(
        medecin=medecin, actif=True, debut__lt=fin, fin__gt=debut
    ).first()
    if chevauche is not None:
        raise Conflit(
            "Ce créneau chevauche un créneau existant",
            code="creneau_chevauchement",
            details={"creneau": chevauche.pk},
        )
    with _overlap_is_conflict("Ce créneau chevauche un créneau existant"):
        return Creneau.objects.create(medecin=medecin, debut=debut, fin=fin)


MAX_SERIE = 10_000


def publish_serie(
    *, acteur: User, medecin: Medecin, debut: datetime, fin: datetime, duree: timedelta
) -> list[Creneau]:
    """Back-to-back slots from ``debut`` to ``fin``: all of them or none."""
    _check_new_period(acteur, medecin, debut, fin)
    if duree <= timedelta(0):
        raise DomainError("La durée d'un créneau doit être positive", code="creneau_invalide")
    count = int((fin - debut) / duree)
    if count < 1 or count > MAX_SERIE:
        raise DomainError(
            f"Une série compte de 1 à {MAX_SERIE} créneaux", code="serie_invalide",
            details={"count": count},
        )
    if Creneau.objects.filter(medecin=medecin, actif=True, debut__lt=fin, fin__gt=debut).exists():
        raise Conflit("Cette période chevauche des créneaux existants", code="creneau_chevauchement")
    with _overlap_is_conflict("Cette période chevauche des créneaux existants"):
        # save() one by one: each slot is an event (creneau:available), in order.
        return [
            Creneau.objects.create(
                medecin=medecin, debut=debut + i * duree, fin=debut + (i + 1) * duree
            )
            for i in range(count)
        ]


def withdraw_creneau(*, acteur: User, creneau: Creneau) -> Creneau:
    if not policies.can_manage_agenda(acteur, creneau.medecin):
        raise PermissionRefusee("Vous ne gérez pas l'agenda de ce médecin")
    with transaction.atomic():
        creneau = Creneau.objects.select_for_update().get(pk=creneau.pk)
        if creneau.rendezvous.filter(statut__in=ACTIVE_STATUTS).exists():
            raise Conflit(
                "Ce créneau a un rendez-vous actif : annulez-le d'abord",
                code="creneau_reserve",
            )
        if not creneau.actif:
            return creneau
        creneau.actif = False
        creneau.save(update_fields=["actif"])
        return creneau


def book_creneau(
    *, patient: User, creneau: Creneau, motif: str = "", motif_consultation: Motif | None = None,
    acteur: User | None = None,
) -> RendezVous:
    """Book a slot; the database decides who wins a race (partial unique index).

    ``acteur`` is who books: the patient online (the default), bound by the practice's
    rules (``rendezvous.regles``); or the practice's staff for a patient (a phone call, the
    desk), confirmed at once and bound only by the slot's length against the visit reason.
    """
    acteur = acteur or patient
    par_le_cabinet = acteur.pk != patient.pk
    if patient.role != Role.PATIENT:
        raise PermissionRefusee("Seul un patient peut prendre rendez-vous", code="role_interdit")
    if par_le_cabinet and not policies.can_book_for_patient(acteur, creneau.medecin):
        raise PermissionRefusee("Vous ne prenez rendez-vous que dans votre cabinet")
    # A ``reserve`` annotation read before this call (selectors.creneaux) is stale from
    # here on: without it the serializers ask the database, and the booking's own payloads
    # (REST 201, rendezvous:created, creneau:unavailable, the 409) show the slot as taken.
    vars(creneau).pop("reserve", None)
    if not creneau.actif:
        _conflict(creneau, acteur)
    if creneau.debut <= timezone.now():
        raise DomainError("Ce créneau est déjà passé", code="creneau_passe")
    regles.check_motif(creneau, motif_consultation, en_ligne=not par_le_cabinet)
    if not par_le_cabinet:
        regles.check_preavis(creneau)
        regles.check_nouveaux_patients(patient, creneau.medecin, motif_consultation)
    # Taken from here on, whoever wins: the payloads serialise it as such without a query.
    creneau.reserve = True
    try:
        with transaction.atomic():
            if not par_le_cabinet:
                regles.check_limite(patient, creneau.medecin.cabinet)
            rdv = RendezVous.objects.create(
                patient=patient, creneau=creneau, motif=motif, motif_consultation=motif_consultation,
                pris_par=acteur,
                statut=StatutRendezVous.CONFIRME if par_le_cabinet else StatutRendezVous.EN_ATTENTE,
                confirme_at=timezone.now() if par_le_cabinet else None,
            )
            _journal(acteur, journal.Action.CREATION, rdv)
            return rdv
    except IntegrityError:
        _conflict(creneau, acteur)
    except DomainError:
        vars(creneau).pop("reserve", None)  # refused before the slot was taken
        raise


def _conflict(creneau: Creneau, patient: User) -> None:
    creneau_conflict.send(sender=Creneau, creneau=creneau, requester=patient)
    # The slot travels with the error; the REST view shows it in the 409's details.
    raise CreneauIndisponible(creneau=creneau)


def confirm_rendezvous(*, acteur: User, rdv: RendezVous) -> RendezVous:
    if not policies.can_confirm_rendezvous(acteur, rdv):
        raise PermissionRefusee("Seuls le médecin et son cabinet confirment un rendez-vous")
    with transaction.atomic():
        rdv = _lock(rdv)
        if rdv.statut == StatutRendezVous.CONFIRME:
            return rdv
        if rdv.statut != StatutRendezVous.EN_ATTENTE:
            raise Conflit("Ce rendez-vous est annulé", code="rendezvous_annule")
        rdv.statut = StatutRendezVous.CONFIRME
        rdv.confirme_at = timezone.now()
        rdv.save(update_fields=["statut", "confirme_at", "updated_at"])
        _journal(acteur, journal.Action.CONFIRMATION, rdv)
        return rdv


def cancel_rendezvous(*, acteur: User, rdv: RendezVous, motif: str = "") -> RendezVous:
    if not policies.can_cancel_rendezvous(acteur, rdv):
        raise PermissionRefusee("Vous ne pouvez pas annuler ce rendez-vous")
    with transaction.atomic():
        rdv = _lock(rdv)
        if rdv.statut == StatutRendezVous.ANNULE:
            raise Conflit("Ce rendez-vous est déjà annulé", code="rendezvous_annule")
        rdv.statut = StatutRendezVous.ANNULE
        rdv.annule_par = acteur
        rdv.annule_at = timezone.now()
        rdv.motif_annulation = motif
        rdv.save(update_fields=["statut", "annule_par", "annule_at", "motif_annulation", "updated_at"])
        _journal(acteur, journal.Action.ANNULATION, rdv)
        return rdv


def _journal(acteur: User, action: str, rdv: RendezVous) -> None:
    """The access log's row for this change, in its transaction (audit.journal)."""
    journal.changement(acteur=acteur, action=action, objet_type=journal.TypeObjet.RENDEZVOUS,
                       objet_id=rdv.pk, patient_id=rdv.patient_id)


def _lock(rdv: RendezVous) -> RendezVous:
    return (
        RendezVous.objects.select_for_update(of=("self",))
        .select_related("creneau__medecin__cabinet", "patient")
        .get(pk=rdv.pk)
    )
