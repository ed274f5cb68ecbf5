"""Passwords are hashed outside any write transaction (issue 10, item 3).

Hashing is PBKDF2, ~0.25 s of CPU. On SQLite every transaction is ``BEGIN IMMEDIATE``:
hashing inside one held the database's write lock for that long, and 100 concurrent
sign-ups ended in 74 × ``database is locked``. The hasher below records, for every hash
it computes, whether the connection was inside ``transaction.atomic()``; the tests run
without pytest-django's wrapping transaction (``transactional_db``), so the flag is the
code's own.
"""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher, make_password
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from rendezvous import services
from rendezvous.models import Role, User

pytestmark = pytest.mark.django_db(transaction=True)

HASHED_IN: list[bool] = []  # one entry per hash computed: inside an atomic block?


class RecordingHasher(MD5PasswordHasher):
    """MD5 (fast) under its own name, noting where each hash is computed."""

    algorithm = "recording_md5"

    def encode(self, password: str, salt: str) -> str:
        HASHED_IN.append(connection.in_atomic_block)
        return super().encode(password, salt)


@pytest.fixture(autouse=True)
def recording_hasher(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.RecordingHasher",
                                 "django.contrib.auth.hashers.MD5PasswordHasher"]
    HASHED_IN.clear()
    yield
    HASHED_IN.clear()


def hashed_outside(count_at_least: int = 1) -> None:
    assert len(HASHED_IN) >= count_at_least, HASHED_IN
    assert not any(HASHED_IN), f"a password was hashed inside transaction.atomic(): {HASHED_IN}"


def test_the_recording_hasher_sees_an_atomic_block():
    """The probe itself: a hash computed inside atomic() is recorded as such."""
    from django.db import transaction

    with transaction.atomic():
        make_password("Un-bon-mot-de-passe")
    assert HASHED_IN == [True]


def test_sign_up_over_the_api_hashes_before_its_transaction():
    r = APIClient().post("/api/auth/register/", {"email": "nina@test.fr", "password": "Un-bon-mot-de-passe"},
                         format="json")
    assert r.status_code == 201, r.content
    hashed_outside()
    user = User.objects.get(email="nina@test.fr")
    assert user.password.startswith("recording_md5$") and user.check_password("Un-bon-mot-de-passe")


def test_register_patient_service_and_create_user_hash_before_writing():
    services.register_patient(email="a@test.fr", password="Un-bon-mot-de-passe")
    User.objects.create_user("b@test.fr", "Un-bon-mot-de-passe", role=Role.PATIENT)
    hashed_outside(2)
    assert User.objects.get(email="a@test.fr").check_password("Un-bon-mot-de-passe")
    assert User.objects.get(email="b@test.fr").check_password("Un-bon-mot-de-passe")


def test_a_duplicate_sign_up_is_still_409_without_a_write():
    User.objects.create_user("deja@test.fr", "Un-bon-mot-de-passe")
    r = APIClient().post("/api/auth/register/", {"email": "DEJA@test.fr", "password": "Un-bon-mot-de-passe"},
                         format="json")
    assert r.status_code == 409 and r.json()["code"] == "email_exists"
    assert User.objects.filter(email__iexact="deja@test.fr").count() == 1


def test_login_upgrading_an_old_hash_rehashes_outside_a_transaction():
    """A login with a hash from an older hasher rewrites it (Django's upgrade): a write."""
    user = User.objects.create_user("old@test.fr", "x")
    User.objects.filter(pk=user.pk).update(
        password=MD5PasswordHasher().encode("Un-bon-mot-de-passe", "oldsalt"))
    HASHED_IN.clear()
    r = APIClient().post("/api/auth/token/", {"email": "old@test.fr", "password": "Un-bon-mot-de-passe"},
                         format="json")
    assert r.status_code == 200, r.content
    user.refresh_from_db()
    assert user.password.startswith("recording_md5$")  # upgraded...
    hashed_outside()  # ...and hashed outside any transaction


def test_seed_demo_hashes_before_its_transaction():
    call_command("seed_demo", stdout=io.StringIO())
    hashed_outside(7)
    assert User.objects.get(email="alice@demo.fr").check_password("demo1234")
    HASHED_IN.clear()
    call_command("seed_demo", stdout=io.StringIO())
    assert HASHED_IN == []  # idempotent: nothing hashed again
