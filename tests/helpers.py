"""Fixtures and assertions shared by the REST API tests (tests/test_api_*.py).

Import the fixtures a module needs: ``from tests.helpers import fast_hashers, world``.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from messagerie.models import Conversation, Message, Participation
from realtime.models import Event, NotificationCursor, NotificationRead
from rendezvous.models import Absence, Cabinet, Creneau, Horaire, Medecin, RendezVous, User

from . import factories as f


@pytest.fixture(autouse=True)
def fast_hashers(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    """Two practices, their staff, three patients, a super admin and a few slots.

    cab1: admin1, med1, med2 — cab2: admin2, med3. p1 has booked slot1 (med1),
    p2 has booked slot3 (med3); slot2 (med1) and slot4 (med2) are free.
    """

    cab1: Cabinet
    cab2: Cabinet
    admin1: User
    admin2: User
    med1: Medecin
    med2: Medecin
    med3: Medecin
    p1: User
    p2: User
    p3: User
    sa: User
    slot1: Creneau
    slot2: Creneau
    slot3: Creneau
    slot4: Creneau
    rdv1: RendezVous
    rdv3: RendezVous


@pytest.fixture
def world(db) -> World:
    cab1 = f.cabinet(nom="Cabinet du Parc", ville="Lyon")
    cab2 = f.cabinet(nom="Cabinet de la Gare", ville="Paris")
    med1 = f.medecin(cab1, specialite="Médecine générale", last_name="Martin")
    med2 = f.medecin(cab1, specialite="Pédiatrie", last_name="Bernard")
    med3 = f.medecin(cab2, specialite="Cardiologie", last_name="Petit")
    slot1 = f.creneau(med1, f.future(48))
    slot2 = f.creneau(med1, f.future(49))
    slot3 = f.creneau(med3, f.future(48))
    slot4 = f.creneau(med2, f.future(50))
    p1, p2, p3 = f.patient(), f.patient(), f.patient()
    return World(
        cab1=cab1, cab2=cab2,
        admin1=f.admincabinet(cab1), admin2=f.admincabinet(cab2),
        med1=med1, med2=med2, med3=med3,
        p1=p1, p2=p2, p3=p3, sa=f.superadmin(),
        slot1=slot1, slot2=slot2, slot3=slot3, slot4=slot4,
        rdv1=f.rendezvous(p1, slot1, motif="Fièvre"),
        rdv3=f.rendezvous(p2, slot3, motif="Contrôle"),
    )


def state(*, events: bool = True) -> dict:
    """Every row a client could change, as comparable values."""
    snap = {
        "users": sorted(User.objects.values_list("id", "email", "role", "cabinet_id", "is_active",
                                                 "first_name", "last_name", "telephone", "password")),
        "cabinets": Cabinet.objects.count(),
        "medecins": Medecin.objects.count(),
        "creneaux": sorted(Creneau.objects.values_list("id", "medecin_id", "debut", "fin", "actif", "genere")),
        "horaires": sorted(Horaire.objects.values_list("medecin_id", "jour", "debut", "fin", "duree_minutes")),
        "absences": sorted(Absence.objects.values_list("id", "medecin_id", "debut", "fin", "motif")),
        "rendezvous": sorted(RendezVous.objects.values_list(
            "id", "patient_id", "creneau_id", "statut", "motif", "annule_par_id", "motif_annulation")),
        "conversations": Conversation.objects.count(),
        "participations": Participation.objects.count(),
        "messages": sorted(Message.objects.values_list("id", "contenu", "lu_at")),
        "notification_reads": NotificationRead.objects.count(),
        "notification_cursors": sorted(NotificationCursor.objects.values_list("user_id", "read_up_to")),
        "outstanding_tokens": OutstandingToken.objects.count(),
        "blacklisted_tokens": BlacklistedToken.objects.count(),
    }
    if events:
        snap["events"] = Event.objects.count()
    return snap


@contextmanager
def unchanged(*, events: bool = True):
    """Assert that the block changes no row (``events=False``: ignore the event log)."""
    before = state(events=events)
    yield
    after = state(events=events)
    changed = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert not changed, f"rows changed: {changed}"


def body(response) -> dict:
    """The JSON body, asserting it is JSON (never an HTML page)."""
    content_type = response.get("Content-Type", "")
    assert content_type.startswith("application/json"), (response.status_code, content_type,
                                                          response.content[:200])
    return json.loads(response.content)


def assert_error(response, status: int, code: str | None = None) -> dict:
    """A JSON error ``{code, message, details?}`` with this status (and code, if given)."""
    data = body(response)
    assert response.status_code == status, (response.status_code, data)
    assert set(data) <= {"code", "message", "details"}, data
    assert isinstance(data.get("code"), str) and data["code"], data
    assert isinstance(data.get("message"), str) and data["message"], data
    if code is not None:
        assert data["code"] == code, data
    return data


def ids(response) -> list[int]:
    data = body(response)
    assert response.status_code == 200, data
    return [item["id"] for item in data["results"]]


def bearer(access: str):
    """An API client sending this access token."""
    client = f.client_for()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def login(email: str, password: str = f.PASSWORD) -> dict:
    """The token pair of a log-in that must succeed."""
    r = f.client_for().post("/api/auth/token/", {"email": email, "password": password}, format="json")
    assert r.status_code == 200, r.content
    return body(r)


def refresh(token: str):
    return f.client_for().post("/api/auth/token/refresh/", {"refresh": token}, format="json")


def me(access: str):
    return bearer(access).get("/api/me/")


# French month names, as Intl.DateTimeFormat('fr-FR') writes them (the front's dates).
MOIS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
        "novembre", "décembre"]
