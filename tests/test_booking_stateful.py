"""The booking lifecycle as a Hypothesis state machine, against a model written from the
README's role table and event catalogue (not from the code under test).

Actors: three patients, three doctors of two practices, their admins (two in the first
practice) and a super admin. Transitions: publish one slot or a series, withdraw, book,
confirm, cancel, move, hold, release — through ``rendezvous/services.py``, as the REST views and the admin call
them. After every step:

- the database holds what the model says (each booking's status, each slot's state), and
  no slot ever has two active bookings;
- a refusal is the expected DomainError code, and changes nothing;
- the events written to the event log are exactly the transition's, in order: names,
  types, French messages, rooms, data; the same events, and only they, are handed to the
  bus on commit; ``creneau:*`` events carry slot data only, role-wide rooms never get
  personal data;
- each change writes its one row to the access log (audit.JournalAcces), refusals none.

Adding a transition (hold, move: issues 12/13) is a ``Model`` method that checks the
rules and returns the refusal code or the expected events, plus a ``@rule`` that calls the
service through ``self.attempt``.

Each example runs in a savepoint rolled back at its end, on one connection: on SQLite by
default, on PostgreSQL when DATABASE_URL is set. Deterministic (``derandomize``, no example
database) and bounded (``max_examples`` × ``stateful_step_count``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Count, Q
from django.test import TestCase
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from attente import services as attente
from attente.models import Retenue
from audit.models import Action, JournalAcces
from medical_booking.errors import DomainError
from realtime.bus import bus
from realtime.models import Event
from rendezvous import services
from rendezvous.models import Creneau, Medecin, RendezVous, User
from tests import factories as f
from tests import helpers

pytestmark = pytest.mark.django_db
fast_hashers = helpers.fast_hashers  # fixture

PATIENTS = ["p1", "p2", "p3"]
DOCTORS = {"med1": "cab1", "med2": "cab1", "med3": "cab2"}
ADMINS = {"admin1": "cab1", "admin1b": "cab1", "admin2": "cab2"}
ACTORS = PATIENTS + list(DOCTORS) + list(ADMINS) + ["sa"]
# Who attempts what: mostly those who may (so that transitions happen), everyone sometimes.
STAFF_FIRST = ["med1", "admin1", "sa", "med3", "admin2", "med2", "admin1b"] * 2 + PATIENTS
PATIENTS_FIRST = PATIENTS * 3 + ["med1", "admin2", "sa"]
DAYS = st.sampled_from([0, 1, -3])  # -3: in the past (the grid starts two days ahead)
SLOT_KEYS = {"id", "medecin", "debut", "fin", "timezone", "actif", "disponible"}
EN_ATTENTE, CONFIRME, ANNULE = "EN_ATTENTE", "CONFIRME", "ANNULE"


# --- the model -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ev:
    """An expected event: what the catalogue table in the README says."""

    name: str
    type: str
    message: str
    rooms: frozenset[str]
    notify: bool
    # Checked in data: the object's id and, for slots, actif/disponible; for bookings, statut,
    # patient and the canceller's role.
    obj: int
    fields: tuple[tuple[str, Any], ...] = ()


@dataclass
class Slot:
    id: int
    medecin: str
    debut: datetime
    fin: datetime
    actif: bool = True


@dataclass
class Rdv:
    id: int
    slot: int
    patient: str
    statut: str = EN_ATTENTE
    annule_par: str | None = None


@dataclass
class Model:
    ids: dict[str, int]  # actor name → user id
    now: datetime
    slots: dict[int, Slot] = field(default_factory=dict)
    rdvs: dict[int, Rdv] = field(default_factory=dict)
    holds: dict[int, str] = field(default_factory=dict)  # slot → the patient holding it (attente/)

    # Who may do what (README: "who" column of the API table).
    def role(self, actor: str) -> str:
        if actor in PATIENTS:
            return "PATIENT"
        if actor in DOCTORS:
            return "MEDECIN"
        return "ADMINCABINET" if actor in ADMINS else "SUPERADMIN"

    def manages(self, actor: str, medecin: str) -> bool:
        if actor == "sa":
            return True
        if actor in DOCTORS:
            return actor == medecin
        return ADMINS.get(actor) == DOCTORS[medecin]

    def active_booking(self, slot: int) -> Rdv | None:
        return next((r for r in self.rdvs.values() if r.slot == slot and r.statut != ANNULE), None)

    def overlaps(self, medecin: str, debut: datetime, fin: datetime) -> bool:
        return any(s.medecin == medecin and s.actif and s.debut < fin and s.fin > debut
                   for s in self.slots.values())

    # Rooms.
    def staff_rooms(self, medecin: str) -> frozenset[str]:
        admins = [a for a, cab in ADMINS.items() if cab == DOCTORS[medecin]]
        return frozenset([f"medecin:{self.ids[medecin]}"] + [f"admincabinet:{self.ids[a]}" for a in admins])

    def slot_rooms(self, medecin: str) -> frozenset[str]:
        return frozenset(["role:PATIENT", f"creneaux:{self.ids[medecin]}"])

    # Transitions: the refusal's code, or None and then the events.
    def publish_refusal(self, actor, medecin, debut, fin) -> str | None:
        if not self.manages(actor, medecin):
            return "permission_denied"
        if fin <= debut:
            return "creneau_invalide"
        if debut <= self.now:
            return "creneau_passe"
        return None

    def publish(self, actor, medecin, debut, fin) -> str | None:
        return self.publish_refusal(actor, medecin, debut, fin) or (
            "creneau_chevauchement" if self.overlaps(medecin, debut, fin) else None)

    def serie(self, actor, medecin, debut, fin, duree) -> str | None:
        refusal = self.publish_refusal(actor, medecin, debut, fin)
        if refusal:
            return refusal
        if int((fin - debut) / duree) < 1:
            return "serie_invalide"
        return "creneau_chevauchement" if self.overlaps(medecin, debut, fin) else None

    def published(self, slot: Slot) -> list[Ev]:
        self.slots[slot.id] = slot
        return [Ev("creneau:available", "info", "Nouveau créneau disponible", self.slot_rooms(slot.medecin),
                   False, slot.id, (("actif", True), ("disponible", True)))]

    def withdraw(self, actor, slot: Slot) -> tuple[str | None, list[Ev]]:
        if not self.manages(actor, slot.medecin):
            return "permission_denied", []
        if self.active_booking(slot.id):
            return "creneau_reserve", []
        if not slot.actif:
            return None, []  # already withdrawn: nothing happens
        slot.actif = False
        return None, [Ev("creneau:unavailable", "info", "Ce créneau a été retiré",
                         frozenset([f"creneaux:{self.ids[slot.medecin]}"]), False, slot.id,
                         (("actif", False), ("disponible", False)))]

    def book(self, actor, slot: Slot) -> tuple[str | None, list[Ev]]:
        """Refusal code and events; a lost slot is a refusal *with* creneau:conflict."""
        if self.role(actor) != "PATIENT":
            return "role_interdit", []
        conflict = [Ev("creneau:conflict", "error", "Ce créneau n'est plus disponible",
                       frozenset([f"user:{self.ids[actor]}"]), False, slot.id,
                       (("actif", slot.actif), ("disponible", False)))]
        if not slot.actif:
            return "creneau_indisponible", conflict
        if slot.debut <= self.now:
            return "creneau_passe", []
        if self.holds.get(slot.id, actor) != actor:  # README: others, staff included, get 409
            return "creneau_retenu", []
        if self.active_booking(slot.id):
            return "creneau_indisponible", conflict
        self.holds.pop(slot.id, None)  # the holder's booking uses the hold up
        return None, []

    def booked(self, rdv: Rdv) -> list[Ev]:
        self.rdvs[rdv.id] = rdv
        medecin = self.slots[rdv.slot].medecin
        booking = (("statut", EN_ATTENTE), ("patient", self.ids[rdv.patient]), ("annule_par", None))
        return [
            Ev("rendezvous:created", "success", "Rendez-vous créé avec succès",
               frozenset([f"patient:{self.ids[rdv.patient]}"]), True, rdv.id, booking),
            Ev("rendezvous:new", "info", "Nouveau rendez-vous en attente de confirmation",
               self.staff_rooms(medecin), True, rdv.id, booking),
            Ev("creneau:unavailable", "info", "Ce créneau a été réservé ou retiré",
               frozenset([f"creneaux:{self.ids[medecin]}"]), False, rdv.slot,
               (("actif", True), ("disponible", False))),
        ]

    def confirm(self, actor, rdv: Rdv) -> tuple[str | None, list[Ev]]:
        medecin = self.slots[rdv.slot].medecin
        if not self.manages(actor, medecin):
            return "permission_denied", []
        if rdv.statut == CONFIRME:
            return None, []  # confirming twice changes nothing
        if rdv.statut == ANNULE:
            return "rendezvous_annule", []
        rdv.statut = CONFIRME
        booking = (("statut", CONFIRME), ("patient", self.ids[rdv.patient]), ("annule_par", None))
        return None, [
            Ev("rendezvous:confirmed", "success", "Votre rendez-vous a été confirmé",
               frozenset([f"patient:{self.ids[rdv.patient]}"]), True, rdv.id, booking),
            Ev("rendezvous:confirmed", "success", "Rendez-vous confirmé",
               frozenset([f"medecin:{self.ids[medecin]}"]), True, rdv.id, booking),
        ]

    def cancel(self, actor, rdv: Rdv) -> tuple[str | None, list[Ev]]:
        slot = self.slots[rdv.slot]
        if actor != rdv.patient and not self.manages(actor, slot.medecin):
            return "permission_denied", []
        if rdv.statut == ANNULE:
            return "rendezvous_annule", []
        rdv.statut, rdv.annule_par = ANNULE, actor
        by_patient = actor == rdv.patient
        booking = (("statut", ANNULE), ("patient", self.ids[rdv.patient]), ("annule_par", self.role(actor)))
        events = [
            Ev("rendezvous:cancelled", "warning",
               "Votre annulation a bien été prise en compte" if by_patient else "Votre rendez-vous a été annulé",
               frozenset([f"patient:{self.ids[rdv.patient]}"]), True, rdv.id, booking),
            Ev("rendezvous:cancelled", "warning",
               "Rendez-vous annulé par le patient" if by_patient else "Rendez-vous annulé",
               self.staff_rooms(slot.medecin), True, rdv.id, booking),
        ]
        if slot.actif and slot.debut > timezone.now():
            events.append(Ev("creneau:available", "info", "Un créneau s'est libéré", self.slot_rooms(slot.medecin),
                             False, slot.id, (("actif", True), ("disponible", True))))
        return None, events

    def move(self, actor, rdv: Rdv, target: Slot) -> tuple[str | None, list[Ev]]:
        """README: the patient, the doctor, the practice's admins; same practice; a patient
        stays with the same doctor; a taken or withdrawn target is the booking's conflict."""
        old = self.slots[rdv.slot]
        if actor != rdv.patient and not self.manages(actor, old.medecin):
            return "permission_denied", []
        if rdv.statut == ANNULE:
            return "rendezvous_annule", []
        if target.id == old.id:
            return "meme_creneau", []
        if DOCTORS[target.medecin] != DOCTORS[old.medecin]:
            return "creneau_autre_cabinet", []
        if self.role(actor) == "PATIENT" and target.medecin != old.medecin:
            return "medecin_different", []
        if old.debut <= timezone.now() or target.debut <= timezone.now():
            return "creneau_passe", []
        conflict = [Ev("creneau:conflict", "error", "Ce créneau n'est plus disponible",
                       frozenset([f"user:{self.ids[actor]}"]), False, target.id,
                       (("actif", target.actif), ("disponible", False)))]
        if not target.actif or self.active_booking(target.id):
            return "creneau_indisponible", conflict
        if self.holds.get(target.id, rdv.patient) != rdv.patient:
            return "creneau_retenu", []
        self.holds.pop(target.id, None)  # held (offered) for this patient: used up
        rdv.slot = target.id
        booking = (("statut", rdv.statut), ("patient", self.ids[rdv.patient]), ("annule_par", None))
        staff = self.staff_rooms(target.medecin) | frozenset([f"medecin:{self.ids[old.medecin]}"])
        events = [
            Ev("rendezvous:moved", "info", "Rendez-vous déplacé", frozenset([f"patient:{self.ids[rdv.patient]}"]),
               True, rdv.id, booking),
            Ev("rendezvous:moved", "info", "Rendez-vous déplacé", staff, True, rdv.id, booking),
            Ev("creneau:unavailable", "info", "Ce créneau a été réservé ou retiré",
               frozenset([f"creneaux:{self.ids[target.medecin]}"]), False, target.id,
               (("actif", True), ("disponible", False))),
        ]
        if old.actif:
            events.append(Ev("creneau:available", "info", "Un créneau s'est libéré", self.slot_rooms(old.medecin),
                             False, old.id, (("actif", True), ("disponible", True))))
        return None, events

    def disponible(self, slot: Slot) -> bool:
        return slot.actif and slot.debut > timezone.now() and not self.active_booking(slot.id)

    def hold(self, actor, slot: Slot) -> tuple[str | None, list[Ev]]:
        """README "Waiting list and holds": one hold per slot and per patient."""
        if self.role(actor) != "PATIENT":
            return "role_interdit", []
        if not slot.actif:
            return "creneau_indisponible", []
        if slot.debut <= self.now:
            return "creneau_passe", []
        if self.active_booking(slot.id):
            return "creneau_indisponible", []
        holder = self.holds.get(slot.id)
        if holder is not None:
            return (None if holder == actor else "creneau_retenu"), []  # one's own: renewed
        events = []
        previous = next((pk for pk, p in self.holds.items() if p == actor), None)
        if previous is not None:
            del self.holds[previous]
            events += self.back(self.slots[previous])
        self.holds[slot.id] = actor
        return None, events + [Ev("creneau:unavailable", "info", "Ce créneau est en cours de réservation",
                                  frozenset([f"creneaux:{self.ids[slot.medecin]}"]), False, slot.id,
                                  (("actif", True), ("disponible", False)))]

    def back(self, slot: Slot) -> list[Ev]:
        if not self.disponible(slot):
            return []
        return [Ev("creneau:available", "info", "Un créneau s'est libéré", self.slot_rooms(slot.medecin),
                   False, slot.id, (("actif", True), ("disponible", True)))]

    def release(self, actor, slot: Slot) -> tuple[str | None, list[Ev]]:
        if self.holds.get(slot.id) != actor:
            return "retenue_introuvable", []
        del self.holds[slot.id]
        return None, self.back(slot)


# --- the machine -----------------------------------------------------------------------------


class BookingLifecycle(RuleBasedStateMachine):
    """One example: a fresh savepoint over the shared world, actions, checks, rollback."""

    users: dict[str, User] = {}
    published: list = []  # what the bus was handed on commit (bus.publish is recorded)
    initial_slots: list[tuple[int, str, datetime, datetime]] = []

    slots = Bundle("slots")
    rdvs = Bundle("rdvs")

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.base = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
        self.model = Model(ids={name: u.pk for name, u in self.users.items()}, now=timezone.now())
        self.last_event = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        self.last_log = JournalAcces.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @initialize(target=slots)
    def world_slots(self):
        """The shared world's slots: one ahead for each doctor, one past."""
        for pk, medecin, debut, fin in self.initial_slots:
            self.model.slots[pk] = Slot(pk, medecin, debut, fin)
        return multiple(*[pk for pk, *_ in self.initial_slots])

    # Running a transition and checking what it wrote.
    def attempt(self, what: str, call, refusal: str | None, events: list[Ev] | None, *,
                journal: tuple[str, str, str] | None = None):
        """Run ``call``; check the refusal code, the events written and published, and the
        access log's row (action, actor, patient) of a change. ``events=None``: the caller
        checks them once the created ids are known."""
        event(f"{what}: {refusal or 'ok'}")  # --hypothesis-show-statistics
        self.published.clear()
        result, error = None, None
        with TestCase.captureOnCommitCallbacks(execute=True):
            try:
                result = call()
            except DomainError as exc:
                error = exc
        assert (error.code if error else None) == refusal, (error and error.code, error and error.message, refusal)
        written = list(Event.objects.filter(pk__gt=self.last_event).order_by("pk").prefetch_related("rooms"))
        if written:
            self.last_event = written[-1].pk
        self.written = written
        # Handed to the bus on commit: exactly the events written, in order, with their rooms.
        assert [(name, payload["eventId"], sorted(rooms or [])) for name, payload, rooms in self.published] == [
            (e.name, e.pk, sorted(r.room for r in e.rooms.all())) for e in written]
        for e in written:
            self.check_privacy(e)
        if events is not None:
            self.check_events(events)
        log = list(JournalAcces.objects.filter(pk__gt=self.last_log).order_by("pk"))
        if log:
            self.last_log = log[-1].pk
        expected_log = [(journal[0], self.model.ids[journal[1]], self.model.ids[journal[2]])] if journal else []
        assert [(r.action, r.acteur_id, r.patient_id) for r in log] == ([] if refusal else expected_log)
        return result

    def check_events(self, expected: list[Ev]) -> None:
        got = [(e.name, e.type, e.message, frozenset(r.room for r in e.rooms.all()), e.notify, e.to_everyone)
               for e in self.written]
        assert got == [(x.name, x.type, x.message, x.rooms, x.notify, False) for x in expected]
        for e, x in zip(self.written, expected, strict=True):
            assert e.data["id"] == x.obj, (e.name, e.data, x)
            for key, value in x.fields:
                actual = e.data[key]["id"] if key == "patient" else e.data[key]
                assert actual == value, (e.name, key, actual, value)

    @staticmethod
    def check_privacy(e: Event) -> None:
        """Slot events carry slot data only, to no personal room; role-wide rooms get nothing else."""
        rooms = [r.room for r in e.rooms.all()]
        if e.name.startswith("creneau:"):
            assert set(e.data) == SLOT_KEYS, e.data
            assert not any(r.startswith(("patient:", "medecin:", "admincabinet:", "conversation:")) for r in rooms)
        if any(r.startswith("role:") for r in rooms) or e.to_everyone:
            assert e.name == "creneau:available" and set(e.data) == SLOT_KEYS, (e.name, rooms)

    def slot(self, pk: int) -> Creneau:
        return Creneau.objects.select_related("medecin__cabinet", "medecin__user").get(pk=pk)

    def rdv(self, pk: int) -> RendezVous:
        return RendezVous.objects.select_related("creneau__medecin__cabinet", "patient").get(pk=pk)

    def when(self, day: int, start: int) -> datetime:
        """Half-hour starts, so 60-minute slots overlap the next one; day -3 is in the past."""
        return self.base + timedelta(days=day, minutes=30 * start)

    # Rules.
    @rule(target=slots, actor=st.sampled_from(STAFF_FIRST), medecin=st.sampled_from(list(DOCTORS)),
          day=DAYS, start=st.integers(0, 3), minutes=st.sampled_from([30, 60, 0]))
    def publish(self, actor, medecin, day, start, minutes):
        debut = self.when(day, start)
        return self._publish(actor, medecin, debut, debut + timedelta(minutes=minutes))

    @rule(target=slots, actor=st.sampled_from(STAFF_FIRST), slot=slots)
    def publish_over(self, actor, slot):
        """The same period as a known slot: an overlap while it is active, else a new slot."""
        s = self.model.slots[slot]
        return self._publish(actor, s.medecin, s.debut, s.fin)

    def _publish(self, actor, medecin, debut, fin):
        refusal = self.model.publish(actor, medecin, debut, fin)
        creneau = self.attempt("publish_creneau", lambda: services.publish_creneau(
            acteur=self.users[actor], medecin=Medecin.objects.select_related("cabinet").get(pk=self.model.ids[medecin]),
            debut=debut, fin=fin), refusal, None)
        if refusal:
            self.check_events([])
            return multiple()
        self.check_events(self.model.published(Slot(creneau.pk, medecin, debut, fin)))
        return creneau.pk

    @rule(target=slots, actor=st.sampled_from(STAFF_FIRST), medecin=st.sampled_from(list(DOCTORS)),
          day=DAYS, start=st.integers(0, 3), period=st.sampled_from([30, 60, 90, 120]),
          duree=st.sampled_from([30, 60]))
    def publish_serie(self, actor, medecin, day, start, period, duree):
        debut = self.when(day, start)
        fin = debut + timedelta(minutes=period)
        refusal = self.model.serie(actor, medecin, debut, fin, timedelta(minutes=duree))
        created = self.attempt("publish_serie", lambda: services.publish_serie(
            acteur=self.users[actor], medecin=Medecin.objects.select_related("cabinet").get(pk=self.model.ids[medecin]),
            debut=debut, fin=fin, duree=timedelta(minutes=duree)), refusal, None)
        if refusal:
            self.check_events([])
            return multiple()
        assert len(created) == period // duree
        expected = []
        for i, c in enumerate(created):
            start_i = debut + i * timedelta(minutes=duree)
            assert (c.debut, c.fin) == (start_i, start_i + timedelta(minutes=duree))
            expected += self.model.published(Slot(c.pk, medecin, c.debut, c.fin))
        self.check_events(expected)
        return multiple(*[c.pk for c in created])

    @rule(actor=st.sampled_from(STAFF_FIRST), slot=slots)
    def withdraw(self, actor, slot):
        refusal, events = self.model.withdraw(actor, self.model.slots[slot])
        self.attempt("withdraw_creneau", lambda: services.withdraw_creneau(
            acteur=self.users[actor], creneau=self.slot(slot)), refusal, events)

    @rule(actor=st.sampled_from(STAFF_FIRST), rdv=rdvs)
    def withdraw_booked(self, actor, rdv):
        """Withdrawing a slot that has (or had) a booking: refused while it is active."""
        self.withdraw(actor, self.model.rdvs[rdv].slot)

    @rule(target=rdvs, actor=st.sampled_from(PATIENTS_FIRST), slot=slots)
    def book(self, actor, slot):
        refusal, events = self.model.book(actor, self.model.slots[slot])
        rdv = self.attempt("book_creneau", lambda: services.book_creneau(
            patient=self.users[actor], creneau=self.slot(slot)),
            refusal, events if refusal else None, journal=(Action.CREATION, actor, actor))
        if refusal:
            return multiple()
        self.check_events(self.model.booked(Rdv(rdv.pk, slot, actor)))
        return rdv.pk

    @rule(actor=st.sampled_from(STAFF_FIRST), rdv=rdvs)
    def confirm(self, actor, rdv):
        booking = self.model.rdvs[rdv]
        changes = booking.statut == EN_ATTENTE  # confirming a confirmed booking changes nothing
        refusal, events = self.model.confirm(actor, booking)
        self.attempt("confirm_rendezvous", lambda: services.confirm_rendezvous(
            acteur=self.users[actor], rdv=self.rdv(rdv)),
            refusal, events, journal=(Action.CONFIRMATION, actor, booking.patient) if changes else None)

    @rule(data=st.data(), rdv=rdvs)
    def move_within_the_practice(self, data, rdv):
        """A move its parties would try: an offered slot of the same practice, by the patient,
        the doctor, a practice admin or the super admin (random targets are mostly refused)."""
        booking = self.model.rdvs[rdv]
        medecin = self.model.slots[booking.slot].medecin
        targets = sorted(pk for pk, s in self.model.slots.items() if DOCTORS[s.medecin] == DOCTORS[medecin]
                         and s.actif and s.debut > self.model.now and not self.model.active_booking(pk))
        if not targets:
            return
        admins = sorted(a for a, cab in ADMINS.items() if cab == DOCTORS[medecin])
        actor = data.draw(st.sampled_from(["patient", "patient", medecin, "sa", *admins]))
        self.move(actor, rdv, data.draw(st.sampled_from(targets)))

    @rule(actor=st.sampled_from(ACTORS), rdv=rdvs)
    def cancel(self, actor, rdv):
        booking = self.model.rdvs[rdv]
        refusal, events = self.model.cancel(actor, booking)
        self.attempt("cancel_rendezvous", lambda: services.cancel_rendezvous(
            acteur=self.users[actor], rdv=self.rdv(rdv)),
            refusal, events, journal=(Action.ANNULATION, actor, booking.patient))

    @rule(actor=st.sampled_from(["patient"] * 4 + ACTORS), rdv=rdvs, slot=slots)
    def move(self, actor, rdv, slot):
        booking = self.model.rdvs[rdv]
        actor = booking.patient if actor == "patient" else actor  # mostly those who may
        refusal, events = self.model.move(actor, booking, self.model.slots[slot])
        self.attempt("move_rendezvous", lambda: services.move_rendezvous(
            acteur=self.users[actor], rdv=self.rdv(rdv), creneau=self.slot(slot)),
            refusal, events, journal=(Action.DEPLACEMENT, actor, booking.patient))

    @rule(actor=st.sampled_from(PATIENTS_FIRST), slot=slots, release=st.booleans())
    def hold_or_release(self, actor, slot, release):
        """One rule for both (two would thin out the bookings and moves of each example)."""
        if release:
            # Mostly one's own hold (a random slot is mostly not held by this patient).
            slot = next((pk for pk, p in self.model.holds.items() if p == actor), slot)
            refusal, events = self.model.release(actor, self.model.slots[slot])
            self.attempt("liberer_retenue", lambda: attente.liberer_retenue(
                patient=self.users[actor], creneau=self.slot(slot)), refusal, events)
            return
        refusal, events = self.model.hold(actor, self.model.slots[slot])
        self.attempt("retenir_creneau", lambda: attente.retenir_creneau(
            patient=self.users[actor], creneau=self.slot(slot)), refusal, events)

    # Invariants.
    @invariant()
    def holds_match_the_model(self):
        live = dict(Retenue.objects.filter(active=True, expire_at__gt=timezone.now())
                    .values_list("creneau_id", "patient_id"))
        assert live == {pk: self.model.ids[p] for pk, p in self.model.holds.items()}

    @invariant()
    def database_matches_the_model(self):
        doubled = (RendezVous.objects.filter(statut__in=[EN_ATTENTE, CONFIRME]).values("creneau")
                   .annotate(n=Count("id")).filter(n__gt=1))
        assert not doubled.exists(), list(doubled)
        assert dict(RendezVous.objects.filter(pk__in=self.model.rdvs).values_list("pk", "statut")) == {
            pk: r.statut for pk, r in self.model.rdvs.items()}
        assert dict(RendezVous.objects.filter(pk__in=self.model.rdvs).values_list("pk", "creneau_id")) == {
            pk: r.slot for pk, r in self.model.rdvs.items()}
        assert dict(Creneau.objects.filter(pk__in=self.model.slots).values_list("pk", "actif")) == {
            pk: s.actif for pk, s in self.model.slots.items()}
        cancelled_by = dict(RendezVous.objects.filter(pk__in=self.model.rdvs, statut=ANNULE)
                            .values_list("pk", "annule_par_id"))
        assert cancelled_by == {pk: self.model.ids[r.annule_par] for pk, r in self.model.rdvs.items()
                                if r.statut == ANNULE}
        # Nothing outside the model: no booking of a slot the model does not know.
        assert not RendezVous.objects.filter(~Q(pk__in=self.model.rdvs), creneau__in=self.model.slots).exists()


def test_booking_lifecycle(db, monkeypatch):
    cab1, cab2 = f.cabinet(nom="Cabinet A"), f.cabinet(nom="Cabinet B", timezone="America/Montreal")
    cabs = {"cab1": cab1, "cab2": cab2}
    users: dict[str, User] = {name: f.patient() for name in PATIENTS}
    meds = {name: f.medecin(cabs[cab]) for name, cab in DOCTORS.items()}
    users |= {name: m.user for name, m in meds.items()}
    users |= {name: f.admincabinet(cabs[cab]) for name, cab in ADMINS.items()}
    users["sa"] = f.superadmin()
    # The world's slots: for each doctor one ahead (distinct from the machine's grid) and one past.
    ahead = timezone.now().replace(minute=0, second=0, microsecond=0) + timedelta(days=5)
    starts = [(name, ahead + timedelta(hours=i)) for i, name in enumerate(meds)]
    starts.append(("med1", timezone.now() - timedelta(hours=2)))
    initial = []
    for name, debut in starts:
        c = f.creneau(meds[name], debut)
        initial.append((c.pk, name, c.debut, c.fin))

    published: list = []
    monkeypatch.setattr(bus, "publish", lambda event, payload, rooms: published.append((event, payload, rooms)))
    BookingLifecycle.users, BookingLifecycle.published, BookingLifecycle.initial_slots = users, published, initial
    run_state_machine_as_test(BookingLifecycle, settings=settings(
        max_examples=50, stateful_step_count=30, derandomize=True, database=None, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ))
