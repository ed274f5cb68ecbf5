"""Weekly hours, absences, and the slots generated from them.

A doctor's week (``Horaire`` rows: day, wall-clock start and end in the practice's zone,
slot length) is turned into free slots (``Creneau.genere``) on a rolling horizon by
``generer_creneaux``: from the REST API after a change, from the in-server scheduler
(``realtime.scheduler``) and from ``manage.py generer_creneaux``.

Generation is idempotent and safe to run from several processes at once: it skips every
time already covered by an active slot (generated or published by hand) or an absence,
and inserts what is left one doctor-day per transaction. Whatever another process
inserted meanwhile, the database decides (the exclusion constraint / SQLite triggers): a
losing insert is skipped, never an error. Each slot it creates is published like any
other (one ``creneau:available`` each, written in the transaction that creates it).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from medical_booking.errors import Conflit, DomainError, PermissionRefusee

from . import policies
from .models import ACTIVE_STATUTS, Absence, Creneau, Horaire, Medecin, RendezVous, User
from .signals import creneaux_publies, creneaux_retires

DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE
MAX_PLAGES = 70  # ten ranges a day
MAX_ABSENCE = timedelta(days=366)
DAY_ATTEMPTS = 3


# --- generation ------------------------------------------------------------------------


@dataclass
class Generation:
    """What a generation run did: slots created, candidate slots another writer took
    first (the database refused the insert), doctors looked at."""

    crees: int = 0
    ignores: int = 0
    medecins: int = 0

    def __iadd__(self, other: Generation) -> Generation:
        self.crees += other.crees
        self.ignores += other.ignores
        self.medecins += other.medecins
        return self


Periode = tuple[datetime, datetime]


def instant_local(jour: date, heure: time | datetime, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall-clock time on a day, or None when that time does not
    exist (the hour skipped when clocks go forward). A time that happens twice (clocks
    go back) is its first occurrence."""
    naive = heure if isinstance(heure, datetime) else datetime.combine(jour, heure)
    utc = naive.replace(tzinfo=tz).astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) != naive:
        return None
    return utc


def creneaux_de_la_plage(jour: date, plage: Horaire, tz: ZoneInfo) -> Iterator[Periode]:
    """The slots of one range of hours on one day, as UTC periods.

    Wall-clock: 09:00 local is 09:00 on both sides of a DST change. A slot whose start or
    end falls in a DST change (a skipped or repeated hour, at night in Europe) is left
    out: its real length would not be the range's slot length.
    """
    pas = timedelta(minutes=plage.duree_minutes)
    t = datetime.combine(jour, plage.debut)
    limite = datetime.combine(jour, plage.fin)
    while t + pas <= limite:
        debut, fin = instant_local(jour, t, tz), instant_local(jour, t + pas, tz)
        if debut is not None and fin is not None and fin - debut == pas:
            yield debut, fin
        t += pas


class _Intervalles:
    """Disjoint periods sorted by start: does a period overlap any of them (log n)?"""

    def __init__(self, periodes: Iterable[Periode]) -> None:
        merged: list[list[datetime]] = []
        for debut, fin in sorted(periodes):
            if merged and debut <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], fin)
            else:
                merged.append([debut, fin])
        self.debuts = [m[0] for m in merged]
        self.fins = [m[1] for m in merged]

    def chevauche(self, debut: datetime, fin: datetime) -> bool:
        i = bisect.bisect_left(self.debuts, fin) - 1
        return i >= 0 and self.fins[i] > debut


def horizon_semaines(semaines: int | None) -> int:
    return settings.CRENEAUX_HORIZON_SEMAINES if semaines is None else semaines


def _plan(medecin: Medecin, plages: list[Horaire], *, semaines: int, now: datetime,
          periode: Periode | None) -> list[list[Periode]]:
    """The missing slots of one doctor, grouped by local day (one transaction each)."""
    tz = medecin.cabinet.tzinfo
    par_jour: dict[int, list[Horaire]] = {}
    for plage in plages:
        par_jour.setdefault(plage.jour, []).append(plage)
    today = timezone.localdate(now, tz)
    jours: list[list[Periode]] = []
    for n in range(7 * semaines):
        jour = today + timedelta(days=n)
        slots = [
            (debut, fin)
            for plage in sorted(par_jour.get(jour.weekday(), []), key=lambda p: p.debut)
            for debut, fin in creneaux_de_la_plage(jour, plage, tz)
            if debut > now and (periode is None or (debut < periode[1] and fin > periode[0]))
        ]
        if slots:
            jours.append(slots)
    if not jours:
        return []
    debut, fin = jours[0][0][0], jours[-1][-1][1]
    occupe = _Intervalles(
        Creneau.objects.filter(medecin=medecin, actif=True, debut__lt=fin, fin__gt=debut)
        .values_list("debut", "fin")
    )
    absent = _Intervalles(
        Absence.objects.filter(medecin=medecin, debut__lt=fin, fin__gt=debut).values_list("debut", "fin")
    )
    plan = [[s for s in jour if not occupe.chevauche(*s) and not absent.chevauche(*s)] for jour in jours]
    return [jour for jour in plan if jour]


def _interblocage(exc: OperationalError) -> bool:
    cause = exc.__cause__
    return (getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)) == DEADLOCK_DETECTED


def _inserer(medecin: Medecin, slots: list[Periode]) -> list[Creneau]:
    """Insert a day's slots; the ones the database refuses (another writer's slot since
    we read) are skipped, each in its own savepoint."""

    def nouveaux(periodes: list[Periode]) -> list[Creneau]:
        return [Creneau(medecin=medecin, debut=d, fin=f, genere=True) for d, f in periodes]

    try:
        with transaction.atomic():  # the usual case: nobody else wrote there, one INSERT
            made = Creneau.objects.bulk_create(nouveaux(slots))
    except IntegrityError:
        made = None
    except OperationalError as exc:
        if not _interblocage(exc):
            raise
        made = None
    if made is None:
        made = []
        for periode in slots:
            try:
                with transaction.atomic():
                    made += Creneau.objects.bulk_create(nouveaux([periode]))
            except IntegrityError:
                continue
            except OperationalError as exc:
                if not _interblocage(exc):
                    raise
    for c in made:
        c.reserve = False  # just made: free (the serializer would ask the database)
    return made


def _journee(medecin: Medecin, slots: list[Periode]) -> Generation:
    """One doctor-day in one transaction: its slots and their events, or nothing."""
    for attempt in range(1, DAY_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                made = _inserer(medecin, slots)
                if made:
                    creneaux_publies.send(sender=Creneau, creneaux=made)
            return Generation(crees=len(made), ignores=len(slots) - len(made))
        except OperationalError as exc:
            # Our events wait for the event-order lock while a writer holding it waits on
            # one of our slots: PostgreSQL aborted us. Try the day again.
            if not _interblocage(exc) or attempt == DAY_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _medecins(medecin: Medecin | None) -> QuerySet[Medecin]:
    qs = Medecin.objects.select_related("cabinet").filter(user__is_active=True)
    if medecin is not None:
        qs = qs.filter(pk=medecin.pk)
    return qs.filter(horaires__isnull=False).distinct().order_by("pk")


def etapes_generation(medecin: Medecin | None = None, semaines: int | None = None,
                      now: datetime | None = None, periode: Periode | None = None
                      ) -> Iterator[Generation]:
    """``generer_creneaux`` one step at a time (a doctor's plan, then each of its days):
    the in-server scheduler runs each step on its own so the thread it shares with the
    socket server is never held for long."""
    semaines = horizon_semaines(semaines)
    for med in list(_medecins(medecin)):
        now_ = now or timezone.now()
        plan = _plan(med, list(med.horaires.all()), semaines=semaines, now=now_, periode=periode)
        yield Generation(medecins=1)
        for slots in plan:
            yield _journee(med, slots)


def generer_creneaux(medecin: Medecin | None = None, semaines: int | None = None,
                     now: datetime | None = None) -> Generation:
    """Generate the missing slots of one doctor (or every doctor with hours) from now to
    the horizon (``CRENEAUX_HORIZON_SEMAINES`` weeks, counted in whole local days)."""
    total = Generation()
    for step in etapes_generation(medecin, semaines, now):
        total += step
    return total


# --- withdrawing free slots --------------------------------------------------------------


def _retirer_libres(creneaux: QuerySet[Creneau]) -> tuple[list[Creneau], list[Creneau]]:
    """Withdraw the free slots among ``creneaux`` (call inside a transaction); returns the
    withdrawn ones and the booked ones (left as they are)."""
    locked = list(creneaux.select_for_update(of=("self",)).select_related("medecin__cabinet")
                  .order_by("debut", "pk"))
    booked_ids = set(
        RendezVous.objects.filter(creneau__in=[c.pk for c in locked], statut__in=ACTIVE_STATUTS)
        .values_list("creneau_id", flat=True)
    )
    free = [c for c in locked if c.pk not in booked_ids]
    if free:
        Creneau.objects.filter(pk__in=[c.pk for c in free]).update(actif=False)
        for c in free:
            c.actif = False
            c.reserve = False
        creneaux_retires.send(sender=Creneau, creneaux=free)
    return free, [c for c in locked if c.pk in booked_ids]


# --- weekly hours ------------------------------------------------------------------------


@dataclass
class ResultatHoraires:
    horaires: list[Horaire]
    crees: int
    retires: int


def _check_agenda(acteur: User, medecin: Medecin) -> None:
    if not policies.can_manage_agenda(acteur, medecin):
        raise PermissionRefusee("Vous ne gérez pas l'agenda de ce médecin")


def _chevauchements(plages: list[dict]) -> list[dict]:
    out = []
    by_day: dict[int, list[dict]] = {}
    for p in plages:
        by_day.setdefault(p["jour"], []).append(p)
    for jour, items in sorted(by_day.items()):
        items.sort(key=lambda p: p["debut"])
        for a, b in zip(items, items[1:], strict=False):
            if b["debut"] < a["fin"]:
                out.append({"jour": jour, "plages": [f"{a['debut']:%H:%M}–{a['fin']:%H:%M}",
                                                     f"{b['debut']:%H:%M}–{b['fin']:%H:%M}"]})
    return out


class _Grille:
    """The slots some hours make, day by day (computed once per day asked)."""

    def __init__(self, plages: list[Horaire], tz: ZoneInfo) -> None:
        self.plages, self.tz = plages, tz
        self.jours: dict[date, set[Periode]] = {}

    def contient(self, debut: datetime, fin: datetime) -> bool:
        jour = timezone.localtime(debut, self.tz).date()
        if jour not in self.jours:
            self.jours[jour] = {
                s for p in self.plages if p.jour == jour.weekday()
                for s in creneaux_de_la_plage(jour, p, self.tz)
            }
        return (debut, fin) in self.jours[jour]


def remplacer_horaires(*, acteur: User, medecin: Medecin, plages: list[dict],
                       now: datetime | None = None) -> ResultatHoraires:
    """Replace a doctor's whole week (one transaction), withdraw the future free generated
    slots the new hours would not make, then generate the new hours' slots."""
    _check_agenda(acteur, medecin)
    if len(plages) > MAX_PLAGES:
        raise DomainError(f"Au plus {MAX_PLAGES} plages horaires par semaine", code="validation_error")
    chevauchements = _chevauchements(plages)
    if chevauchements:
        raise DomainError("Deux plages horaires se chevauchent le même jour",
                          code="horaires_chevauchement", details={"chevauchements": chevauchements})
    now = now or timezone.now()
    tz = medecin.cabinet.tzinfo
    with transaction.atomic():
        # One replacement of a doctor's week at a time: two at once would each delete the
        # old rows and insert theirs, leaving both weeks mixed (FOR NO KEY UPDATE: slot
        # inserts, which take KEY SHARE on the doctor, are not held up).
        list(Medecin.objects.select_for_update(no_key=True).filter(pk=medecin.pk).order_by().values_list("pk"))
        Horaire.objects.filter(medecin=medecin).delete()
        horaires = Horaire.objects.bulk_create([
            Horaire(medecin=medecin, jour=p["jour"], debut=p["debut"], fin=p["fin"],
                    duree_minutes=p["duree_minutes"])
            for p in sorted(plages, key=lambda p: (p["jour"], p["debut"]))
        ])
        grille = _Grille(horaires, tz)
        hors = [
            pk for pk, debut, fin in
            Creneau.objects.filter(medecin=medecin, actif=True, genere=True, debut__gt=now)
            .values_list("pk", "debut", "fin")
            if not grille.contient(debut, fin)
        ]
        retires, _ = _retirer_libres(Creneau.objects.filter(pk__in=hors, actif=True))
    crees = generer_creneaux(medecin, now=now).crees
    return ResultatHoraires(horaires=horaires, crees=crees, retires=len(retires))


def horaires_de(medecin: Medecin) -> list[Horaire]:
    return list(Horaire.objects.filter(medecin=medecin).order_by("jour", "debut"))


# --- absences ----------------------------------------------------------------------------


@dataclass
class ResultatAbsence:
    absence: Absence
    retires: int
    a_deplacer: list[RendezVous] = field(default_factory=list)


def declarer_absence(*, acteur: User, medecin: Medecin, debut: datetime, fin: datetime,
                     motif: str = "", now: datetime | None = None) -> ResultatAbsence:
    """Record an absence and withdraw the free slots it covers (generated or published by
    hand); the booked ones stay, returned for the practice to move or cancel."""
    _check_agenda(acteur, medecin)
    now = now or timezone.now()
    if fin <= debut:
        raise DomainError("La fin de l'absence doit être après son début", code="validation_error",
                          details={"fin": ["La fin doit être après le début."]})
    if fin <= now:
        raise DomainError("Cette absence est déjà passée", code="absence_passee")
    if fin - debut > MAX_ABSENCE:
        raise DomainError("Une absence dure au plus un an", code="validation_error",
                          details={"fin": ["Une absence dure au plus un an."]})
    with transaction.atomic():
        absence = Absence.objects.create(medecin=medecin, debut=debut, fin=fin, motif=motif, cree_par=acteur)
        couverts = Creneau.objects.filter(medecin=medecin, actif=True, debut__gt=now,
                                          debut__lt=fin, fin__gt=debut)
        retires, reserves = _retirer_libres(couverts)
        a_deplacer = list(
            RendezVous.objects.filter(creneau__in=reserves, statut__in=ACTIVE_STATUTS)
            .select_related("patient", "annule_par", "creneau__medecin__user", "creneau__medecin__cabinet")
            .order_by("creneau__debut")
        )
    return ResultatAbsence(absence=absence, retires=len(retires), a_deplacer=a_deplacer)


def supprimer_absence(*, acteur: User, absence: Absence, now: datetime | None = None) -> int:
    """Delete an absence still ahead and regenerate the slots of its period from the
    hours; returns how many were made. A past absence stays (the agenda's history)."""
    medecin = absence.medecin
    _check_agenda(acteur, medecin)
    now = now or timezone.now()
    if absence.fin <= now:
        raise Conflit("Cette absence est passée : elle reste dans l'historique", code="absence_passee")
    periode = (absence.debut, absence.fin)
    with transaction.atomic():
        Absence.objects.filter(pk=absence.pk).delete()
    total = Generation()
    for step in etapes_generation(medecin, now=now, periode=periode):
        total += step
    return total.crees


def absences_de(medecin: Medecin) -> QuerySet[Absence]:
    return Absence.objects.filter(medecin=medecin).select_related("medecin__cabinet").order_by("debut", "pk")
