"""Writes on holds and the waiting list: hold, release, offer, expire, register, leave.

Each write locks the slot's row FOR UPDATE first (the order bookings use: the slot,
then the patient, then the event log), so two holds, or a hold and a booking, of one slot
are decided by the database. Offers are made right after the commit of the fact that
freed the slot (``on_commit``, attente/receivers.py), and by the in-server scheduler's
pass (``expirer_retenues`` then ``offrir_creneaux_libres``) as a safety net: a server
killed between a commit and its offer leaves the slot to the next pass.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from medical_booking.errors import (
    Conflit,
    CreneauIndisponible,
    CreneauRetenu,
    DomainError,
    Introuvable,
    PermissionRefusee,
)
from realtime import catalogue
from realtime.events import send_events
from rendezvous.models import ACTIVE_STATUTS, Creneau, Medecin, Motif, RendezVous, Role, User
from rendezvous.regles import check_nouveaux_patients
from rendezvous.selectors import with_disponibilite

from .models import InscriptionAttente, Retenue
from .retenues import vivantes

logger = logging.getLogger(__name__)


# --- holds -------------------------------------------------------------------------------


def _lock_creneau(creneau_id: int) -> Creneau:
    return Creneau.objects.select_for_update(of=("self",)).select_related("medecin__cabinet").get(pk=creneau_id)


def _expire_on(creneau: Creneau, now: datetime) -> bool:
    """Deactivate the slot's active holds past their time (the slot's row is locked)."""
    return bool(Retenue.objects.filter(creneau_id=creneau.pk, active=True, expire_at__lte=now)
                .update(active=False, issue=Retenue.Issue.EXPIREE))


def _reserve(creneau: Creneau) -> bool:
    return RendezVous.objects.filter(creneau_id=creneau.pk, statut__in=ACTIVE_STATUTS).exists()


def retenir_creneau(*, patient: User, creneau: Creneau) -> Retenue:
    """Hold a free slot for ``RETENUE_SECONDES`` while the patient books it. One hold per
    patient: a new one releases their previous one. Holding one's own held slot again
    renews it (an offer keeps its own time)."""
    if patient.role != Role.PATIENT:
        raise PermissionRefusee("Seul un patient retient un créneau", code="role_interdit")
    now = timezone.now()
    with transaction.atomic():
        creneau = _lock_creneau(creneau.pk)
        if not creneau.actif:
            raise CreneauIndisponible(creneau=creneau)
        if creneau.debut <= now:
            raise Conflit("Ce créneau est déjà passé", code="creneau_passe")
        if _reserve(creneau):
            creneau.reserve = True
            raise CreneauIndisponible(creneau=creneau)
        User.objects.select_for_update(no_key=True).filter(pk=patient.pk).values_list("pk", flat=True).first()
        existante = vivantes(now).filter(creneau_id=creneau.pk).first()
        if existante is not None:
            if existante.patient_id != patient.pk:
                creneau.reserve = True
                raise CreneauRetenu(creneau=creneau)
            if existante.offre_id is None:
                existante.expire_at = now + timedelta(seconds=settings.RETENUE_SECONDES)
                existante.save(update_fields=["expire_at"])
            return existante
        _expire_on(creneau, now)
        precedente = (Retenue.objects.select_related("creneau__medecin__cabinet")
                      .filter(patient=patient, active=True, offre__isnull=True).first())
        if precedente is not None:
            Retenue.objects.filter(pk=precedente.pk).update(active=False, issue=Retenue.Issue.REMPLACEE)
        retenue = Retenue.objects.create(creneau=creneau, patient=patient,
                                         expire_at=now + timedelta(seconds=settings.RETENUE_SECONDES))
        if precedente is not None:
            send_events(catalogue.release_events(precedente.creneau))
            transaction.on_commit(lambda: offrir_apres_commit(precedente.creneau_id))
        send_events(catalogue.hold_events(creneau))
    return retenue


def liberer_retenue(*, patient: User, creneau: Creneau) -> None:
    """The patient lets their hold (or their offer) go: the slot is back, or offered to the
    next in line. Nothing held by them here: 404; their hold already lapsed: 409. A declined
    offer leaves its entry waiting, free for another slot at once (after commit)."""
    now = timezone.now()
    with transaction.atomic():
        creneau = _lock_creneau(creneau.pk)
        retenue = Retenue.objects.filter(creneau_id=creneau.pk, patient=patient, active=True).first()
        if retenue is None:
            raise Introuvable("Vous ne retenez pas ce créneau", code="retenue_introuvable")
        if retenue.expire_at <= now:
            raise Conflit("Ce créneau n'est plus retenu pour vous : le délai est dépassé", code="retenue_expiree",
                          details={"expire_at": retenue.expire_at.isoformat()})
        Retenue.objects.filter(pk=retenue.pk).update(active=False, issue=Retenue.Issue.LIBEREE)
        if _offrir(creneau, now) is None:
            send_events(catalogue.release_events(creneau))
        if retenue.offre_id is not None:
            offre_id = retenue.offre_id
            transaction.on_commit(lambda: offrir_inscription_apres_commit(offre_id))


def expirer_retenues(now: datetime | None = None) -> int:
    """The scheduler's pass: each lapsed hold is closed under its slot's lock; the slot goes
    to the next in line on the waiting list, else back to everyone (``creneau:available``).
    Correctness never waits for this: lapsed holds bind nothing already."""
    now = now or timezone.now()
    ids = list(Retenue.objects.filter(active=True, expire_at__lte=now).values_list("creneau_id", flat=True)[:500])
    done = 0
    for creneau_id in ids:
        with transaction.atomic():
            creneau = _lock_creneau(creneau_id)
            if not _expire_on(creneau, now):
                continue  # released, used or expired by another process meanwhile
            done += 1
            if creneau.actif and not _reserve(creneau) and _offrir(creneau, now) is None:
                send_events(catalogue.release_events(creneau))
    return done


# --- offers ------------------------------------------------------------------------------


def _candidates(creneau: Creneau):
    """Active entries whose range covers the slot's day (the practice's) and whose reason
    fits its length, first registered first, never offered this slot before, with no other
    offer active now (one at a time: the ``une_offre_active_par_inscription`` index; an
    offer past its time counts until its slot's pass closes it, as the index sees it); a
    new patient only while the doctor (and their reason) still take new patients online,
    so an offer is always one they can book (the rule of ``check_nouveaux_patients``)."""
    medecin = creneau.medecin
    jour = timezone.localtime(creneau.debut, medecin.cabinet.tzinfo).date()
    minutes = int((creneau.fin - creneau.debut).total_seconds() // 60)
    deja = Retenue.objects.filter(offre=OuterRef("pk"), creneau_id=creneau.pk)
    connu = RendezVous.objects.filter(patient_id=OuterRef("patient_id"), creneau__medecin_id=medecin.pk,
                                      statut__in=ACTIVE_STATUTS)
    accepte = Q(Exists(connu))
    if medecin.nouveaux_patients_en_ligne:
        accepte |= Q(motif_consultation__isnull=True) | Q(motif_consultation__nouveaux_patients=True)
    return (InscriptionAttente.objects.filter(medecin_id=medecin.pk, active=True,
                                              date_debut__lte=jour, date_fin__gte=jour,
                                              patient__is_active=True)
            .filter(Q(motif_consultation__isnull=True) | Q(motif_consultation__duree_minutes__lte=minutes))
            .filter(accepte)
            .exclude(Exists(deja))
            .exclude(Exists(_offre_active()))
            .order_by("created_at", "id"))


def _offre_active() -> QuerySet[Retenue]:
    """The outer entry's active offer, if any (what ``une_offre_active_par_inscription``
    counts): such an entry waits for that offer's end before another."""
    return Retenue.objects.filter(offre=OuterRef("pk"), active=True)


# At most this many entries passed over for one slot (each given another slot meanwhile by
# a concurrent offer) before the slot is left to the next pass: a try is a query and a savepoint.
_ESSAIS = 5


def _offrir(creneau: Creneau, now: datetime) -> Retenue | None:
    """Offer the locked, free, unheld slot to the first in line (None: nobody waits for it).

    Each hold is written in a savepoint: should a unique index refuse it, nothing else of
    the caller's transaction is lost. Under the slot's lock only the entry's index can:
    another process offered this entry another slot between our candidate query and our
    insert (PostgreSQL makes our insert wait for theirs, then refuses it once they commit).
    That entry now has its offer, so the slot goes to the next in line."""
    if not creneau.actif or creneau.debut <= now + timedelta(minutes=creneau.medecin.cabinet.preavis_minimum_minutes):
        return None
    expire_at = now + timedelta(seconds=settings.OFFRE_SECONDES)
    ecartees: list[int] = []
    for _ in range(_ESSAIS):
        inscription = _candidates(creneau).exclude(pk__in=ecartees).first()
        if inscription is None:
            return None
        try:
            with transaction.atomic():
                retenue = Retenue.objects.create(creneau=creneau, patient_id=inscription.patient_id,
                                                 offre=inscription, expire_at=expire_at)
        except IntegrityError:
            logger.info("waiting-list entry %s got another offer meanwhile: slot %s goes to the next in line",
                        inscription.pk, creneau.pk)
            ecartees.append(inscription.pk)
            continue
        send_events(catalogue.offer_events(creneau, inscription.patient_id, expire_at, inscription.pk))
        return retenue
    return None  # the scheduler's next pass tries again


def offrir_creneau(creneau_id: int) -> Retenue | None:
    """Offer one slot, if free, unheld and awaited: its own transaction, under the slot's lock."""
    now = timezone.now()
    with transaction.atomic():
        try:
            creneau = _lock_creneau(creneau_id)
        except Creneau.DoesNotExist:
            return None
        if not creneau.actif or _reserve(creneau):
            return None
        expiree = _expire_on(creneau, now)
        if vivantes(now).filter(creneau_id=creneau.pk).exists():
            return None
        retenue = _offrir(creneau, now)
        if retenue is None and expiree:
            send_events(catalogue.release_events(creneau))
        return retenue


def offrir_apres_commit(creneau_id: int) -> None:
    """``on_commit`` callback: a failure is logged, never the freeing request's error; the
    scheduler's pass retries."""
    try:
        offrir_creneau(creneau_id)
    except Exception:
        logger.exception("waiting-list offer of slot %s failed", creneau_id)


def offrir_creneaux_libres(now: datetime | None = None, limite: int = 200) -> int:
    """The scheduler's safety net: free, unheld, upcoming slots some active entry waits for
    (its doctor, its days), offered one by one (each under its lock)."""
    now = now or timezone.now()
    attente = InscriptionAttente.objects.filter(active=True, date_fin__gte=now.date() - timedelta(days=1))
    medecins = set(attente.values_list("medecin_id", flat=True))
    if not medecins:
        return 0
    ids = (with_disponibilite(Creneau.objects.filter(medecin_id__in=medecins, actif=True, debut__gt=now), now)
           .filter(reserve=False).filter(_peut_attendre()).order_by("debut").values_list("pk", flat=True)[:limite])
    return sum(1 for pk in list(ids) if offrir_creneau(pk) is not None)


def _peut_attendre() -> Exists:
    """A slot some active entry may want, in the slot query itself, so that a pass locks only
    those (not every free slot of the doctor's horizon, again every pass): one of its
    doctor's entries covers its UTC day give or take one (any practice's local day is in
    that), never offered it before, with no other offer active now. ``_candidates``
    decides exactly, under the lock."""
    def jour(decalage: timedelta) -> TruncDate:
        return TruncDate(ExpressionWrapper(OuterRef("debut") + decalage, output_field=DateTimeField()), tzinfo=UTC)

    return Exists(InscriptionAttente.objects.filter(
        medecin_id=OuterRef("medecin_id"), active=True, patient__is_active=True,
        date_debut__lte=jour(timedelta(days=1)), date_fin__gte=jour(timedelta(days=-1)),
    ).exclude(Exists(Retenue.objects.filter(offre=OuterRef("pk"), creneau_id=OuterRef(OuterRef("pk")))))
     .exclude(Exists(_offre_active())))


# --- the waiting list ----------------------------------------------------------------------


def inscrire(*, patient: User, medecin: Medecin, date_debut: date, date_fin: date,
             motif_consultation: Motif | None = None) -> InscriptionAttente:
    """Register a patient for a doctor's freed slots over a range of days. A free slot that
    matches now is offered right after commit."""
    if patient.role != Role.PATIENT:
        raise PermissionRefusee("Seul un patient s'inscrit en liste d'attente", code="role_interdit")
    if date_fin < date_debut:
        raise DomainError("La fin de la période doit suivre son début", code="periode_invalide",
                          details={"date_from": date_debut.isoformat(), "date_to": date_fin.isoformat()})
    today = timezone.localdate(timezone.now(), medecin.cabinet.tzinfo)
    if date_fin < today:
        raise DomainError("Cette période est déjà passée", code="periode_passee",
                          details={"date_to": date_fin.isoformat()})
    if motif_consultation is not None and (motif_consultation.medecin_id != medecin.pk
                                           or not motif_consultation.actif or not motif_consultation.en_ligne):
        raise DomainError("Motif de consultation inconnu pour ce médecin", code="motif_inconnu",
                          details={"motif": motif_consultation.pk})
    # An offer must be bookable: a new patient the doctor refuses online is told now.
    check_nouveaux_patients(patient, medecin, motif_consultation)
    with transaction.atomic():
        # One patient's registrations one at a time: the overlap check below holds.
        User.objects.select_for_update(no_key=True).filter(pk=patient.pk).values_list("pk", flat=True).first()
        existante = InscriptionAttente.objects.filter(patient=patient, medecin=medecin, active=True,
                                                      date_debut__lte=date_fin, date_fin__gte=date_debut).first()
        if existante is not None:
            raise Conflit("Vous êtes déjà en liste d'attente chez ce médecin sur ces dates",
                          code="deja_en_attente", details={"liste_attente": existante.pk})
        inscription = InscriptionAttente.objects.create(
            patient=patient, medecin=medecin, date_debut=date_debut, date_fin=date_fin,
            motif_consultation=motif_consultation)
        transaction.on_commit(lambda: offrir_inscription_apres_commit(inscription.pk))
    return inscription


def offrir_inscription_apres_commit(inscription_id: int) -> None:
    """A new entry, or one whose offer was declined: the free slots of its range (if any)
    go through ``offrir_creneau`` (each to the first in line) until one is offered to it."""
    try:
        inscription = InscriptionAttente.objects.select_related("medecin__cabinet").get(pk=inscription_id)
        if not inscription.active:
            return  # left the list (``desinscrire`` releases its offer) or served
        tz = inscription.medecin.cabinet.tzinfo
        debut = timezone.make_aware(datetime.combine(inscription.date_debut, datetime.min.time()), tz)
        fin = timezone.make_aware(datetime.combine(inscription.date_fin + timedelta(days=1), datetime.min.time()), tz)
        now = timezone.now()
        ids = (with_disponibilite(Creneau.objects.filter(medecin_id=inscription.medecin_id, actif=True,
                                                         debut__gte=max(debut, now), debut__lt=fin), now)
               .filter(reserve=False).order_by("debut").values_list("pk", flat=True)[:50])
        for pk in list(ids):
            retenue = offrir_creneau(pk)
            if retenue is not None and retenue.offre_id == inscription_id:
                return  # one slot offered to them at a time is enough
    except Exception:
        logger.exception("waiting-list offers for entry %s failed", inscription_id)


def desinscrire(*, patient: User, inscription: InscriptionAttente) -> None:
    """Leave the waiting list; a live offer of theirs is released to the next in line."""
    if inscription.patient_id != patient.pk:
        raise Introuvable("Inscription introuvable")
    with transaction.atomic():
        InscriptionAttente.objects.filter(pk=inscription.pk).update(active=False)
        offres = list(vivantes().filter(offre=inscription).values_list("creneau_id", flat=True))
    for creneau_id in offres:
        try:
            liberer_retenue(patient=patient, creneau=Creneau(pk=creneau_id))
        except DomainError:
            pass  # lapsed or used meanwhile
