"""Bench-only data: N patients, S free slots, and long-lived access tokens.

    DATABASE_URL=... FAST_PASSWORD_HASHER=1 .venv/bin/python bench/prep.py \
        --patients 1000 --slots 200 --out /tmp/tokens.json

Run after ``manage.py migrate`` and ``manage.py seed_demo`` on the same database.
The admin's and the doctor's tokens are minted with ``RevocableAccessToken.for_user``;
the patients' are shaped as a log-in makes them (a session ``sid`` and the user's token
version ``ver``: the socket server checks the session) without 1,000 logins. All live
``--hours`` hours. Writes JSON: {admin, doctor, doctorId, patients: [{id, token}], slots}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medical_booking.settings")
os.environ.setdefault("FAST_PASSWORD_HASHER", "1")

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import make_password  # noqa: E402
from django.db import transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework_simplejwt.settings import api_settings  # noqa: E402

from realtime.auth import SESSION_CLAIM, VERSION_CLAIM, RevocableAccessToken  # noqa: E402
from realtime.models import TokenVersion  # noqa: E402
from rendezvous.models import Creneau, Medecin, Role, User  # noqa: E402

PREFIX = "bench-patient-"


def token_for(user: User, lifetime: timedelta) -> str:
    token = RevocableAccessToken.for_user(user)
    token.set_exp(lifetime=lifetime)
    return str(token)


def session_tokens(users: list[User], lifetime: timedelta) -> list[str]:
    """Access tokens shaped as a log-in makes them (a session ``sid``, the user's ``ver``),
    minted in memory: 10,000 ``for_user`` calls cost a query and an insert each."""
    versions = dict(TokenVersion.objects.filter(pk__in=[u.pk for u in users]).values_list("pk", "version"))
    out = []
    for user in users:
        token = RevocableAccessToken()
        token[api_settings.USER_ID_CLAIM] = str(user.pk)
        token[SESSION_CLAIM] = uuid.uuid4().hex
        token[VERSION_CLAIM] = versions.get(user.pk, 0)
        token.set_exp(lifetime=lifetime)
        out.append(str(token))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--slots", type=int, default=0)
    parser.add_argument("--hours", type=float, default=6)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    lifetime = timedelta(hours=args.hours)

    with transaction.atomic():
        have = User.objects.filter(email__startswith=PREFIX).count()
        if have < args.patients:
            password = make_password("bench1234")  # one hash, shared: cheap and realistic
            User.objects.bulk_create(
                [User(email=f"{PREFIX}{i:06d}@bench.local", password=password,
                      first_name="Bench", last_name=f"P{i}", role=Role.PATIENT)
                 for i in range(have, args.patients)],
                batch_size=1000,
            )
        patients = list(User.objects.filter(email__startswith=PREFIX).order_by("id")[: args.patients])
        admin = User.objects.get(email="admin@demo.fr")
        doctor = Medecin.objects.select_related("user").get(user__email="dr.martin@demo.fr")
        slots = []
        if args.slots:
            # Far in the future, back to back, 15 minutes each: nothing overlaps the seed's.
            start = (timezone.now() + timedelta(days=400)).replace(minute=0, second=0, microsecond=0)
            made = Creneau.objects.bulk_create(
                [Creneau(medecin=doctor, debut=start + i * timedelta(minutes=15),
                         fin=start + (i + 1) * timedelta(minutes=15)) for i in range(args.slots)]
            )
            slots = [c.pk for c in made]
            if not all(slots):  # backends without RETURNING
                slots = list(Creneau.objects.filter(medecin=doctor, debut__gte=start)
                             .order_by("debut").values_list("pk", flat=True))
        out = {
            "admin": token_for(admin, lifetime),
            "doctor": token_for(doctor.user, lifetime),
            "doctorId": doctor.user_id,
            "patients": [{"id": p.pk, "token": t} for p, t in zip(patients, session_tokens(patients, lifetime),
                                                                   strict=True)],
            "slots": slots,
        }
    Path(args.out).write_text(json.dumps(out))
    print(f"prep: {len(out['patients'])} patients, {len(slots)} slots -> {args.out}")


if __name__ == "__main__":
    main()
