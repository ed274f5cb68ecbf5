"""Bookings as RFC 5545 iCalendar (the ``icalendar`` package): the e-mail attachment, the
one-booking ``.ics`` and the subscription feeds.

One booking is one calendar entry for its whole life: its ``UID`` is stable
(``rendezvous-<id>@<CALENDAR_UID_DOMAIN>``) and its ``SEQUENCE`` grows with each change
(the seconds from its creation to its last update), so a calendar that received the
confirmation updates the same entry on a move (``METHOD:REQUEST``, a new time, a higher
sequence) and removes it on a cancellation (``METHOD:CANCEL``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import lru_cache

import icalendar
from django.conf import settings
from django.utils import timezone

from .models import RendezVous, Role, StatutRendezVous, User

PRODID = "-//Medical booking//Rendez-vous//FR"
REQUEST, CANCEL, PUBLISH = "REQUEST", "CANCEL", "PUBLISH"
CONTENT_TYPE = "text/calendar; charset=utf-8"


def uid(rdv: RendezVous) -> str:
    return f"rendezvous-{rdv.pk}@{settings.CALENDAR_UID_DOMAIN}"


def sequence(rdv: RendezVous) -> int:
    """Grows with every change of the booking: the whole seconds from its creation to its
    last update, plus one per step it went through (confirmed, moved, cancelled), so
    changes within one second still raise it."""
    seconds = max(0, int((rdv.updated_at - rdv.created_at).total_seconds()))
    steps = (rdv.confirme_at is not None) + (rdv.deplace_at is not None) + (rdv.statut == StatutRendezVous.ANNULE)
    return seconds + steps


def method_for(rdv: RendezVous) -> str:
    return CANCEL if rdv.statut == StatutRendezVous.ANNULE else REQUEST


def _organizer() -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(f"mailto:{settings.DEFAULT_FROM_EMAIL_ADDRESS}")
    address.params["cn"] = icalendar.vText(settings.CALENDAR_ORGANIZER_NAME)
    return address


def _status(rdv: RendezVous) -> str:
    return {StatutRendezVous.CONFIRME: "CONFIRMED", StatutRendezVous.ANNULE: "CANCELLED"}.get(
        rdv.statut, "TENTATIVE")


def _summary(rdv: RendezVous, pour: User | None) -> str:
    """The patient sees their doctor; the practice's staff see the patient."""
    medecin = rdv.creneau.medecin
    if pour is not None and pour.pk != rdv.patient_id and pour.role != Role.PATIENT:
        motif = rdv.motif_consultation.libelle if rdv.motif_consultation_id else rdv.motif
        return f"{rdv.patient}" + (f" — {motif}" if motif else "")
    return f"Rendez-vous avec Dr {medecin.user.get_full_name()}"


def vevent(rdv: RendezVous, *, pour: User | None = None, now: datetime | None = None) -> icalendar.Event:
    creneau = rdv.creneau
    cabinet = creneau.medecin.cabinet
    tz = cabinet.tzinfo
    event = icalendar.Event()
    event.add("uid", uid(rdv))
    event.add("sequence", sequence(rdv))
    event.add("dtstamp", now or timezone.now())
    event.add("dtstart", timezone.localtime(creneau.debut, tz))
    event.add("dtend", timezone.localtime(creneau.fin, tz))
    event.add("summary", _summary(rdv, pour))
    event.add("location", ", ".join(p for p in (cabinet.nom, cabinet.adresse,
                                                   f"{cabinet.code_postal} {cabinet.ville}".strip()) if p))
    event.add("status", _status(rdv))
    event.add("organizer", _organizer())
    if rdv.patient.email:
        attendee = icalendar.vCalAddress(f"mailto:{rdv.patient.email}")
        attendee.params["cn"] = icalendar.vText(str(rdv.patient))
        attendee.params["role"] = icalendar.vText("REQ-PARTICIPANT")
        event.add("attendee", attendee)
    description = [f"Dr {creneau.medecin.user.get_full_name()} ({creneau.medecin.specialite})", cabinet.nom]
    if cabinet.telephone:
        description.append(f"Téléphone du cabinet : {cabinet.telephone}")
    event.add("description", "\n".join(description))
    return event


def calendrier(rdvs: Iterable[RendezVous], *, method: str | None = None, pour: User | None = None,
               nom: str | None = None) -> bytes:
    """A VCALENDAR of these bookings (with the VTIMEZONEs their times use), as bytes."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    if nom:
        cal.add("x-wr-calname", nom)
    now = timezone.now()
    years: dict[str, set[int]] = {}
    for rdv in rdvs:
        cal.add_component(vevent(rdv, pour=pour, now=now))
        years.setdefault(rdv.creneau.medecin.cabinet.timezone, set()).update(
            {rdv.creneau.debut.year, rdv.creneau.fin.year})
    for tzid, used in sorted(years.items()):
        cal.add_component(_vtimezone(tzid, min(used), max(used)))
    return cal.to_ical()


@lru_cache(maxsize=256)
def _vtimezone(tzid: str, first_year: int, last_year: int) -> icalendar.Timezone:
    """The VTIMEZONE of a zone over the years the entries use (a year either side): a
    component over icalendar's default 1970–2038 costs ~20 ms and 2.5 kB per calendar."""
    return icalendar.Timezone.from_tzid(tzid, first_date=date(first_year - 1, 1, 1),
                                        last_date=date(last_year + 2, 1, 1))


def ics_rendezvous(rdv: RendezVous, *, method: str | None = None) -> str:
    """The attachment of a booking's e-mail: REQUEST while it stands, CANCEL once cancelled."""
    return calendrier([rdv], method=method or method_for(rdv)).decode()


def feed_queryset(user: User):
    """The bookings a subscription feed shows: a doctor's agenda, a patient's bookings
    (from 90 days back; cancelled ones stay, marked cancelled, so calendars drop them)."""
    since = timezone.now() - settings.CALENDAR_FEED_PAST
    qs = RendezVous.objects.select_related(
        "patient", "motif_consultation", "creneau__medecin__user", "creneau__medecin__cabinet",
    ).filter(creneau__debut__gte=since).order_by("creneau__debut", "pk")
    if user.role == Role.MEDECIN:
        return qs.filter(creneau__medecin_id=user.pk)
    if user.role == Role.PATIENT:
        return qs.filter(patient=user)
    return qs.none()
