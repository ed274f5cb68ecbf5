"""The event catalogue: each event's name, type, French message and rooms.

Each ``*_events`` function turns a domain fact into the emissions it causes; ``data`` is
always the REST serializer's output for that object. Role-wide rooms (``role:*``) only
ever get slot data, never a patient or a medical detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils import timezone

from messagerie.serializers import MessageSerializer
from rendezvous.models import Creneau, RendezVous, Role, StatutRendezVous, User
from rendezvous.selectors import admins_du_cabinet
from rendezvous.serializers import CreneauSerializer, rendezvous_data

from . import rooms as r

TYPES = ("success", "info", "warning", "error")


@dataclass(frozen=True)
class EventKind:
    name: str
    type: str
    message: str
    # Kept in the notification centre (personal events and broadcasts).
    notify: bool


RENDEZVOUS_CREATED = EventKind("rendezvous:created", "success", "Rendez-vous créé avec succès", True)
RENDEZVOUS_NEW = EventKind(
    "rendezvous:new", "info", "Nouveau rendez-vous en attente de confirmation", True
)
RENDEZVOUS_CONFIRMED = EventKind(
    "rendezvous:confirmed", "success", "Votre rendez-vous a été confirmé", True
)
RENDEZVOUS_CANCELLED = EventKind("rendezvous:cancelled", "warning", "Rendez-vous annulé", True)
RENDEZVOUS_MOVED = EventKind("rendezvous:moved", "info", "Rendez-vous déplacé", True)
CRENEAU_CONFLICT = EventKind("creneau:conflict", "error", "Ce créneau n'est plus disponible", False)
CRENEAU_AVAILABLE = EventKind("creneau:available", "info", "Nouveau créneau disponible", False)
CRENEAU_UNAVAILABLE = EventKind("creneau:unavailable", "info", "Ce créneau a été réservé ou retiré", False)
MESSAGE_NEW = EventKind("message:new", "info", "Nouveau message", True)
MESSAGE_READ = EventKind("message:read", "info", "Message lu", False)
NOTIFICATION_GENERAL = EventKind("notification:general", "info", "Notification", True)
RAPPEL_REMINDER = EventKind("rappel:reminder", "info", "Rappel de rendez-vous", True)
# A freed slot held for the first patient in line on the waiting list (attente/).
CRENEAU_OFFERED = EventKind("creneau:offered", "info", "Un créneau s'est libéré pour vous", True)

ALL = (
    RENDEZVOUS_CREATED, RENDEZVOUS_NEW, RENDEZVOUS_CONFIRMED, RENDEZVOUS_CANCELLED,
    RENDEZVOUS_MOVED, CRENEAU_CONFLICT, CRENEAU_AVAILABLE, CRENEAU_UNAVAILABLE, MESSAGE_NEW, MESSAGE_READ,
    NOTIFICATION_GENERAL, RAPPEL_REMINDER, CRENEAU_OFFERED,
)


@dataclass
class Emission:
    kind: EventKind
    rooms: list[str] | None  # None: every socket
    data: Any
    message: str = ""
    type: str = ""

    def __post_init__(self) -> None:
        self.message = self.message or self.kind.message
        self.type = self.type or self.kind.type


def _staff_rooms(rdv: RendezVous) -> list[str]:
    medecin = rdv.creneau.medecin
    return [r.medecin_room(medecin.user_id)] + [
        r.admincabinet_room(a) for a in admins_du_cabinet(medecin.cabinet_id)
    ]


def rendezvous_events(rdv: RendezVous, *, created: bool) -> list[Emission]:
    data = rendezvous_data(rdv)
    patient = [r.patient_room(rdv.patient_id)]
    if created:
        return [
            Emission(RENDEZVOUS_CREATED, patient, data),
            Emission(RENDEZVOUS_NEW, _staff_rooms(rdv), data,
                     # Booked by the practice for a patient: confirmed at once.
                     message="Nouveau rendez-vous confirmé (pris par le cabinet)"
                     if rdv.statut == StatutRendezVous.CONFIRME else ""),
            # Only to the screens showing this agenda: a role-wide fan-out per booking
            # would cost every patient online a delivery (see bench/README.md).
            Emission(CRENEAU_UNAVAILABLE, [r.creneaux_room(rdv.creneau.medecin_id)], data["creneau"]),
        ]
    if rdv.statut == rdv._statut_initial:
        return []
    if rdv.statut == StatutRendezVous.CONFIRME:
        return [
            Emission(RENDEZVOUS_CONFIRMED, patient, data),
            Emission(RENDEZVOUS_CONFIRMED, [r.medecin_room(rdv.creneau.medecin.user_id)], data,
                     message="Rendez-vous confirmé"),
        ]
    if rdv.statut == StatutRendezVous.ANNULE:
        by_patient = rdv.annule_par_id == rdv.patient_id
        emissions = [
            Emission(RENDEZVOUS_CANCELLED, patient, data,
                     message="Votre rendez-vous a été annulé" if not by_patient
                     else "Votre annulation a bien été prise en compte"),
            Emission(RENDEZVOUS_CANCELLED, _staff_rooms(rdv), data,
                     message="Rendez-vous annulé par le patient" if by_patient
                     else "Rendez-vous annulé"),
        ]
        # data["creneau"]: serialised after the cancellation, free again if ahead
        return emissions + _freed_events(rdv.creneau, data["creneau"])
    return []


def move_events(rdv: RendezVous, ancien: Creneau) -> list[Emission]:
    """A booking on its new slot: the patient and the staff hear of it (the old doctor's
    room too when staff moved it to a colleague); slot followers see one slot taken and,
    if still ahead, the old one freed."""
    old_slot = CreneauSerializer(ancien).data  # serialised after the move: free again
    data = dict(rendezvous_data(rdv), ancien_creneau=old_slot)
    staff = _staff_rooms(rdv)
    if ancien.medecin_id != rdv.creneau.medecin_id:
        staff.append(r.medecin_room(ancien.medecin_id))
    emissions = [
        Emission(RENDEZVOUS_MOVED, [r.patient_room(rdv.patient_id)], data),
        Emission(RENDEZVOUS_MOVED, staff, data),
        Emission(CRENEAU_UNAVAILABLE, [r.creneaux_room(rdv.creneau.medecin_id)], data["creneau"]),
    ]
    return emissions + _freed_events(ancien, old_slot)


def _slot_rooms(creneau: Creneau) -> list[str]:
    """Every patient (SPEC), and the screens showing this doctor's agenda."""
    return [r.role_room(Role.PATIENT), r.creneaux_room(creneau.medecin_id)]


def _freed_events(creneau: Creneau, slot: dict) -> list[Emission]:
    """A slot freed (a cancellation, a move away, a hold released), ``slot`` its data
    serialised after the change: back for everyone, if still bookable."""
    if not slot["disponible"]:
        return []
    return [Emission(CRENEAU_AVAILABLE, _slot_rooms(creneau), slot, message="Un créneau s'est libéré")]


def creneau_events(creneau: Creneau, *, created: bool) -> list[Emission]:
    if created and creneau.actif:
        return [Emission(CRENEAU_AVAILABLE, _slot_rooms(creneau), CreneauSerializer(creneau).data)]
    if not created and not creneau.actif:
        return [Emission(CRENEAU_UNAVAILABLE, [r.creneaux_room(creneau.medecin_id)],
                         CreneauSerializer(creneau).data, message="Ce créneau a été retiré")]
    return []


def conflict_events(creneau: Creneau, requester: User) -> list[Emission]:
    return [Emission(CRENEAU_CONFLICT, [r.user_room(requester.pk)], CreneauSerializer(creneau).data)]


def message_events(message, recipients: list[int]) -> list[Emission]:
    rooms = [r.conversation_room(message.conversation_id)] + [r.user_room(u) for u in recipients]
    return [Emission(MESSAGE_NEW, rooms, MessageSerializer(message).data)]


def read_events(conversation_id: int, lecteur: User, message_ids: list[int],
                auteurs: list[int], lu_at: datetime) -> list[Emission]:
    rooms = [r.conversation_room(conversation_id)] + [r.user_room(a) for a in auteurs]
    data = {
        "conversation": conversation_id,
        "lecteur": lecteur.pk,
        "messages": message_ids,
        "lu_at": lu_at.isoformat(),
    }
    return [Emission(MESSAGE_READ, rooms, data)]


def broadcast_events(message: str, type: str, rooms: list[str] | None, cible: dict) -> list[Emission]:
    return [Emission(NOTIFICATION_GENERAL, rooms, {"cible": cible}, message=message, type=type)]


def reminder_events(rdv: RendezVous, offset_minutes: int) -> list[Emission]:
    tz = rdv.creneau.medecin.cabinet.tzinfo
    debut = timezone.localtime(rdv.creneau.debut, tz)
    medecin = rdv.creneau.medecin.user
    message = (
        f"Rappel : rendez-vous le {debut:%d/%m/%Y} à {debut:%H:%M} "
        f"avec Dr {medecin.last_name}"
    )
    data = dict(rendezvous_data(rdv), rappel_minutes=offset_minutes)
    return [Emission(RAPPEL_REMINDER, [r.patient_room(rdv.patient_id)], data, message=message)]


def hold_events(creneau: Creneau) -> list[Emission]:
    """A slot held (a patient booking it, or offered from the waiting list): gone for the
    screens following this agenda until the hold is used, released or lapses."""
    creneau.reserve = True  # held: serialised as unavailable without a query
    return [Emission(CRENEAU_UNAVAILABLE, [r.creneaux_room(creneau.medecin_id)], CreneauSerializer(creneau).data,
                     message="Ce créneau est en cours de réservation")]


def release_events(creneau: Creneau) -> list[Emission]:
    """A hold released or lapsed unused: the slot is back for everyone, if still bookable."""
    vars(creneau).pop("reserve", None)
    return _freed_events(creneau, CreneauSerializer(creneau).data)


def offer_events(creneau: Creneau, patient_id: int, expire_at: datetime, inscription_id: int) -> list[Emission]:
    """The slot offered to one patient (their room only: persistent, so replayed, kept in
    the notification centre and sent by e-mail/SMS through the outbox); the followers of
    the agenda see it held."""
    emissions = hold_events(creneau)
    data = {"creneau": emissions[0].data, "expire_at": expire_at.isoformat(), "liste_attente": inscription_id}
    return [Emission(CRENEAU_OFFERED, [r.patient_room(patient_id)], data), *emissions]
