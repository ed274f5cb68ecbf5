"""Builders for REST API tests: practices, users of every role, slots, bookings, clients.

Plain functions over the ORM (no factory library): each returns a saved object. Slots
and bookings go through the ORM directly so tests can build states the services refuse
(past slots, for instance); tests of the services call the services themselves.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from rendezvous.models import Cabinet, Creneau, Medecin, RendezVous, Role, User

PASSWORD = "s3cret-Passw0rd"
_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def cabinet(**kw) -> Cabinet:
    n = _n()
    defaults = {"nom": f"Cabinet {n}", "ville": "Lyon", "adresse": f"{n} rue du Test"}
    defaults.update(kw)
    return Cabinet.objects.create(**defaults)


def user(role: str = Role.PATIENT, *, cab: Cabinet | None = None, **kw) -> User:
    n = _n()
    kw.setdefault("email", f"{role.lower()}{n}@test.fr")
    kw.setdefault("first_name", f"Prénom{n}")
    kw.setdefault("last_name", f"Nom{n}")
    if role in (Role.MEDECIN, Role.ADMINCABINET) and cab is None:
        cab = cabinet()
    return User.objects.create_user(password=PASSWORD, role=role, cabinet=cab, **kw)


def patient(**kw) -> User:
    return user(Role.PATIENT, **kw)


def superadmin(**kw) -> User:
    return user(Role.SUPERADMIN, **kw)


def admincabinet(cab: Cabinet | None = None, **kw) -> User:
    return user(Role.ADMINCABINET, cab=cab, **kw)


def medecin(cab: Cabinet | None = None, specialite: str = "Médecine générale", **kw) -> Medecin:
    u = user(Role.MEDECIN, cab=cab, **kw)
    return Medecin.objects.create(user=u, cabinet=u.cabinet, specialite=specialite)


def future(hours: float = 24, *, minutes: float = 0) -> datetime:
    """A whole-minute UTC instant in the future (stable in assertions)."""
    base = timezone.now().replace(second=0, microsecond=0)
    return base + timedelta(hours=hours, minutes=minutes)


def creneau(med: Medecin, debut: datetime | None = None, minutes: int = 30, **kw) -> Creneau:
    debut = debut or future(24 + _n())
    return Creneau.objects.create(medecin=med, debut=debut, fin=debut + timedelta(minutes=minutes), **kw)


def rendezvous(pat: User, cren: Creneau, **kw) -> RendezVous:
    return RendezVous.objects.create(patient=pat, creneau=cren, **kw)


def access(u: User) -> str:
    """An access token that writes no row (no OutstandingToken): safe inside ``unchanged``."""
    return str(AccessToken.for_user(u))


def tokens(u: User) -> tuple[str, str]:
    """An access/refresh pair as the token endpoint issues it (the refresh is recorded)."""
    refresh = RefreshToken.for_user(u)
    return str(refresh.access_token), str(refresh)


def client_for(u: User | None = None) -> APIClient:
    c = APIClient()
    if u is not None:
        c.credentials(HTTP_AUTHORIZATION=f"Bearer {access(u)}")
    return c
