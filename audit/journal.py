"""Recording accesses to patients' bookings and messages.

Two rules:
- a **change** of a booking or a message (by anyone, the patient included) is one row,
  written by the service in the transaction that makes the change: a rolled-back change
  leaves no row, a committed one always has its row;
- a **read** that returns a patient's bookings or messages to someone other than that
  patient is one row per patient concerned, all in one INSERT for the request.

The request's context (IP, user agent, request id, path) comes from
``audit.context`` (set by the middleware); outside a request the row says so and has no IP.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db.models import Model
from django.utils import timezone

from messagerie.models import Participation
from rendezvous.models import Role, User

from .context import contexte_courant
from .models import Action, Canal, JournalAcces, TypeObjet

__all__ = ["Action", "TypeObjet", "changement", "enregistrer", "lectures", "lecture_rendezvous",
           "lecture_conversations", "lecture_messages", "lecture_notifications",
           "par_patient", "patient_parmi", "patients_des_conversations", "patients_par_conversation",
           "patient_d_evenement"]


def _ligne(acteur: User, action: str, objet_type: str, patient_id: int, objet_ids: list[int],
           objet_id: int | None, horodatage: datetime) -> JournalAcces:
    ctx = contexte_courant()
    return JournalAcces(
        horodatage=horodatage, acteur_id=acteur.pk, acteur_email=acteur.email,
        acteur_role=acteur.role, action=action, objet_type=objet_type, objet_id=objet_id,
        objet_ids=objet_ids, patient_id=patient_id,
        canal=ctx.canal if ctx else Canal.HORS_REQUETE,
        ip=ctx.ip if ctx else None,
        user_agent=ctx.user_agent if ctx else "",
        methode=ctx.methode if ctx else "",
        chemin=ctx.chemin if ctx else "",
        request_id=ctx.request_id if ctx else "",
    )


def changement(*, acteur: User, action: str, objet_type: str, objet_id: int | None,
               patient_id: int | None, objet_ids: list[int] | None = None) -> None:
    """A change of one object concerning ``patient_id``: call it inside the change's
    transaction. Nothing is recorded when no patient is concerned (staff-only talk)."""
    if patient_id is None:
        return
    _ligne(acteur, action, objet_type, patient_id, objet_ids or [objet_id], objet_id,
           timezone.now()).save(force_insert=True)


def enregistrer(acteur: User, action: str, objet_type: str, par_patient: Mapping[int, list[int]],
                *, objet_id: int | None = None) -> None:
    """One row per patient concerned, in one INSERT (one statement per request; on SQLite,
    one per 66 patients: its 999-parameter limit)."""
    now = timezone.now()
    lignes = [_ligne(acteur, action, objet_type, patient_id, ids, objet_id, now)
              for patient_id, ids in par_patient.items() if patient_id is not None]
    if len(lignes) == 1:
        lignes[0].save(force_insert=True)
    elif lignes:
        JournalAcces.objects.bulk_create(lignes)


def lectures(acteur: User, objet_type: str, par_patient: Mapping[int, list[int]],
             *, objet_id: int | None = None) -> None:
    """What ``acteur`` was shown: one row per patient other than the reader."""
    enregistrer(acteur, Action.LECTURE, objet_type,
                {p: ids for p, ids in par_patient.items() if p != acteur.pk}, objet_id=objet_id)


def par_patient(pairs: Iterable[tuple[int | None, int]]) -> dict[int, list[int]]:
    """(patient id, object id) pairs → patient id → object ids; no patient, no entry."""
    grouped: dict[int, list[int]] = {}
    for patient_id, objet in pairs:
        if patient_id is not None:
            grouped.setdefault(patient_id, []).append(objet)
    return grouped


def lecture_rendezvous(acteur: User, rdvs: Iterable, *, detail: bool = False) -> None:
    rdvs = list(rdvs)
    lectures(acteur, TypeObjet.RENDEZVOUS, par_patient((r.patient_id, r.pk) for r in rdvs),
             objet_id=rdvs[0].pk if detail and rdvs else None)


def patient_parmi(users: Iterable[tuple[int, str]]) -> int | None:
    """The patient among (user id, role) pairs: a conversation has at most one."""
    return next((pk for pk, role in users if role == Role.PATIENT), None)


def patients_des_conversations(conversations: Iterable) -> dict[int, int | None]:
    """Conversation id → its patient, from prefetched participants when there are."""
    found: dict[int, int | None] = {}
    missing = []
    for c in conversations:
        cache = getattr(c, "_prefetched_objects_cache", {})
        if "participants" in cache:
            found[c.pk] = patient_parmi((u.pk, u.role) for u in cache["participants"])
        else:
            missing.append(c.pk)
    return found | patients_par_conversation(missing)


def patients_par_conversation(conversation_ids: Iterable[int]) -> dict[int, int | None]:
    """Conversation id → its patient (None for staff-only ones), in one query."""
    ids = set(conversation_ids)
    if not ids:
        return {}
    rows = Participation.objects.filter(conversation_id__in=ids, user__role=Role.PATIENT)
    return dict.fromkeys(ids) | dict(rows.values_list("conversation_id", "user_id"))


def lecture_conversations(acteur: User, conversations: Iterable, *, detail: bool = False) -> None:
    conversations = list(conversations)
    patients = patients_des_conversations(conversations)
    lectures(acteur, TypeObjet.CONVERSATION, par_patient((patients[c.pk], c.pk) for c in conversations),
             objet_id=conversations[0].pk if detail and conversations else None)


def lecture_messages(acteur: User, conversation: Model, messages: Iterable) -> None:
    patient_id = patients_des_conversations([conversation])[conversation.pk]
    ids = [m.pk for m in messages]
    if ids:
        lectures(acteur, TypeObjet.MESSAGE, {patient_id: ids})


def patient_d_evenement(name: str, data: object) -> int | None:
    """The patient a logged event's data is about, if it carries a booking or a message."""
    if not isinstance(data, dict):
        return None
    if name.startswith("rendezvous:") or name == "rappel:reminder":
        patient = data.get("patient")
        return patient.get("id") if isinstance(patient, dict) else None
    if name == "message:new":
        auteur = data.get("auteur")
        if isinstance(auteur, dict) and auteur.get("role") == Role.PATIENT:
            return auteur.get("id")
    return None


def lecture_notifications(acteur: User, events: Iterable, *, detail: bool = False) -> None:
    events = list(events)
    lectures(acteur, TypeObjet.NOTIFICATION,
             par_patient((patient_d_evenement(e.name, e.data), e.pk) for e in events),
             objet_id=events[0].pk if detail and events else None)
