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

from attente import retenues
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
from .signals import creneau_conflict, rendezvous_moved

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
            _hold_creneau(creneau)  # a concurrent withdrawal waits, or is seen
            # Held for another patient (booking it, or offered it): refused, staff included;
            # the patient's own hold is used up.
            retenues.consommer_ou_refuser(creneau, patient)
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
        check_delai(acteur, rdv, "annuler")
        rdv.statut = StatutRendezVous.ANNULE
        rdv.annule_par = acteur
        rdv.annule_at = timezone.now()
        rdv.motif_annulation = motif
        rdv.save(update_fields=["statut", "annule_par", "annule_at", "motif_annulation", "updated_at"])
        _journal(acteur, journal.Action.ANNULATION, rdv)
        return rdv


def move_rendezvous(*, acteur: User, rdv: RendezVous, creneau: Creneau) -> RendezVous:
    """Move a booking onto another slot: one UPDATE of its slot, never cancel + rebook.

    The booking holds its old slot until the transaction commits, so nobody can take it
    and leave the patient with nothing; the partial unique index decides against a racing
    booking or move (the loser gets the booking's 409 and ``creneau:conflict``). The status
    is kept: a confirmed booking stays confirmed.
    """
    if not policies.can_see_rendezvous(acteur, rdv):
        raise PermissionRefusee("Vous ne pouvez pas déplacer ce rendez-vous")
    # As in book_creneau: a ``reserve`` read before this call is stale from here on.
    vars(creneau).pop("reserve", None)
    try:
        with transaction.atomic():
            rdv = _lock(rdv)
            ancien = rdv.creneau
            _check_move(acteur, rdv, ancien, creneau)
            _hold_creneau(creneau)
            retenues.consommer_ou_refuser(creneau, rdv.patient)  # a slot held (offered) for them
            creneau.reserve = True
            rdv.creneau = creneau
            rdv.ancien_creneau = ancien
            rdv.deplace_at = timezone.now()
            rdv.save(update_fields=["creneau", "ancien_creneau", "deplace_at", "updated_at"])
            _journal(acteur, journal.Action.DEPLACEMENT, rdv)
            rendezvous_moved.send(sender=RendezVous, rdv=rdv, ancien=ancien)
            return rdv
    except IntegrityError:  # taken (``reserve`` stays True) or withdrawn (CreneauRetire)
        _conflict(creneau, acteur)
    except OperationalError as exc:
        # Two moves swapping slots wait for each other in the unique index: PostgreSQL
        # aborts one as a deadlock victim, which lost the race for its target.
        cause = exc.__cause__
        if (getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)) != DEADLOCK_DETECTED:
            raise
        vars(creneau).pop("reserve", None)  # the other move may have failed too: ask
        _conflict(creneau, acteur)


def _check_move(acteur: User, rdv: RendezVous, ancien: Creneau, creneau: Creneau) -> None:
    """What a move requires besides a free slot, checked on the locked booking."""
    if rdv.statut == StatutRendezVous.ANNULE:
        raise Conflit("Ce rendez-vous est annulé", code="rendezvous_annule")
    if creneau.pk == ancien.pk:
        raise DomainError("Le rendez-vous est déjà sur ce créneau", code="meme_creneau")
    if creneau.medecin.cabinet_id != ancien.medecin.cabinet_id:
        raise DomainError("Ce créneau appartient à un autre cabinet", code="creneau_autre_cabinet")
    patient = acteur.role == Role.PATIENT
    if patient and creneau.medecin_id != ancien.medecin_id:
        raise DomainError("Un rendez-vous se déplace chez le même médecin", code="medecin_different")
    now = timezone.now()
    if ancien.debut <= now:
        raise Conflit("Ce rendez-vous est déjà passé", code="creneau_passe")
    if creneau.debut <= now:
        raise Conflit("Ce créneau est déjà passé", code="creneau_passe")
    check_delai(acteur, rdv, "déplacer")
    if patient:
        regles.check_preavis(creneau)  # the minimum notice on the target, as for a booking
    motif = rdv.motif_consultation
    duree = creneau.fin - creneau.debut
    if motif is not None and duree < timedelta(minutes=motif.duree_minutes):
        raise Conflit(
            f"Ce créneau est trop court pour ce motif ({motif.duree_minutes} min)",
            code="creneau_trop_court",
            details={"duree_minutes": motif.duree_minutes, "creneau_minutes": int(duree.total_seconds() // 60)},
        )


def check_delai(acteur: User, rdv: RendezVous, verbe: str) -> None:
    """A patient cancels or moves online no later than ``delai_annulation_heures`` before
    the booking's current start (0: until it starts); the practice's staff always can —
    the patient who is too late calls them."""
    if acteur.role != Role.PATIENT:
        return
    cabinet = rdv.creneau.medecin.cabinet
    limite = regles.annulable_jusqu_a(rdv)  # what the booking's payload announces
    if limite is not None and timezone.now() > limite:
        local = timezone.localtime(limite, cabinet.tzinfo)
        raise PermissionRefusee(
            f"Trop tard pour {verbe} ce rendez-vous en ligne (possible jusqu'au "
            f"{local:%d/%m/%Y} à {local:%H:%M}) : appelez le cabinet",
            code="delai_depasse", details={"limite": local.isoformat()},
        )


class CreneauRetire(IntegrityError):
    """The slot was withdrawn before this transaction could hold it: refused like a slot
    taken (an ``IntegrityError``, so a booking's handler of a lost race reports it)."""


def _hold_creneau(creneau: Creneau) -> None:
    """Share-lock the slot row until commit, or raise ``CreneauRetire`` if it is withdrawn.

    A withdrawal (``withdraw_creneau``, an absence, an hours change) locks the row FOR
    UPDATE and then looks for bookings: it waits for this transaction (then sees its
    booking and leaves the slot), or this waits for it (then sees the slot inactive).
    Without it, the booking's only lock on the slot was its foreign-key check, which
    Django defers to COMMIT on PostgreSQL: a withdrawal that saw no booking yet went
    through, and the booking either went through too (an active booking on a withdrawn
    slot) or the two deadlocked (the slot against the event-order lock). Taking the slot
    first keeps one lock order everywhere: the slot, then the event log. Bookings and
    moves of one slot share the lock and still race on the unique index. SQLite runs one
    write transaction at a time: a plain read in it is enough.
    """
    connection = transaction.get_connection()
    suffix = " FOR SHARE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT actif FROM {Creneau._meta.db_table} WHERE id = %s{suffix}", [creneau.pk])
        row = cursor.fetchone()
    if not (row and row[0]):
        creneau.actif = False  # the 409 and creneau:conflict show it withdrawn
        raise CreneauRetire("creneau_retire")


def _journal(acteur: User, action: str, rdv: RendezVous) -> None:
    """The access log's row for this change, in its transaction (audit.journal)."""
    journal.changement(acteur=acteur, action=action, objet_type=journal.TypeObjet.RENDEZVOUS,
                       objet_id=rdv.pk, patient_id=rdv.patient_id)


def _lock(rdv: RendezVous) -> RendezVous:
    """The booking, locked until commit, as it is once the lock is ours.

    Lock first, then read with the joins: a locking query that joins the slot would,
    after waiting for a concurrent move, re-check the moved row against the slot it had
    joined before the wait and find nothing (PostgreSQL re-evaluates only the locked row).
    """
    RendezVous.objects.select_for_update().filter(pk=rdv.pk).values_list("pk", flat=True).get()
    return RendezVous.objects.select_related("creneau__medecin__cabinet", "patient").get(pk=rdv.pk)
