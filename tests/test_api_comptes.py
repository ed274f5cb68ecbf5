"""Claiming a record made on the phone, and password reset (POST /api/auth/register/,
/api/auth/password-reset/, /api/auth/password-reset/confirm/)."""

from __future__ import annotations

import copy
import re
from urllib.parse import parse_qs, urlparse

import pytest
from django.core import mail
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from rendezvous.models import RendezVous, Role, User
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, body, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

NEW_PASSWORD = "Un-n0uveau-mot-de-passe"


@pytest.fixture
def record(world):
    """A record the desk made on the phone for jeanne@exemple.fr, with a booking."""
    r = f.client_for(world.admin1).post("/api/patients/", {
        "first_name": "Jeanne", "last_name": "Durand", "telephone": "0612345678", "email": "jeanne@exemple.fr"},
        format="json")
    patient = User.objects.get(pk=body(r)["id"])
    assert f.client_for(world.admin1).post("/api/rendezvous/", {"creneau": world.slot2.pk, "patient": patient.pk},
                                           format="json").status_code == 201
    return patient


def post(path, payload, **extra):
    return f.client_for().post(path, payload, format="json", **extra)


def link_of(message) -> dict:
    url = re.search(r"https?://\S+", message.body).group(0)
    parsed = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    return {"url": url, "path": parsed.path, "host": parsed.netloc, **query}


def register(email, password="Mot-de-passe-s0lide"):
    return post("/api/auth/register/", {"email": email, "password": password})


# --- the claim --------------------------------------------------------------------------------


def test_signing_up_with_a_phone_record_email_logs_nobody_in_and_mails_the_owner(
        record, django_capture_on_commit_callbacks):
    before = helpers.state(events=False)
    with django_capture_on_commit_callbacks(execute=True):
        r = register("Jeanne@Exemple.fr")
    assert r.status_code == 202
    assert body(r) == {"code": "compte_a_activer", "message": "Un e-mail vous a été envoyé pour activer votre compte"}
    assert "access" not in body(r)
    assert helpers.state(events=False) == before  # nothing changed: no password set, no token
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["jeanne@exemple.fr"]
    link = link_of(mail.outbox[0])
    assert link["path"] == "/reinitialiser" and link["host"] == "testserver"


def test_claiming_through_the_link_keeps_the_same_account_and_history(record, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        register("jeanne@exemple.fr")
    link = link_of(mail.outbox[0])
    r = post("/api/auth/password-reset/confirm/", {"uid": link["uid"], "token": link["token"],
                                                   "password": NEW_PASSWORD})
    assert r.status_code == 200 and body(r)["code"] == "mot_de_passe_modifie"
    user = User.objects.get(pk=record.pk)
    assert user.check_password(NEW_PASSWORD) and user.role == Role.PATIENT
    tokens = body(post("/api/auth/token/", {"email": "jeanne@exemple.fr", "password": NEW_PASSWORD}))
    client = f.client_for()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert body(client.get("/api/me/"))["id"] == record.pk
    mine = body(client.get("/api/rendezvous/"))["results"]
    assert [r["id"] for r in mine] == list(RendezVous.objects.filter(patient=record).values_list("id", flat=True))
    # Claimed: signing up again is the ordinary duplicate, the link is spent.
    assert_error(register("jeanne@exemple.fr"), 409, "email_exists")
    with unchanged():
        assert_error(post("/api/auth/password-reset/confirm/", {"uid": link["uid"], "token": link["token"],
                                                                "password": "Encore-un-autre-9"}), 400, "lien_invalide")


def test_an_ordinary_sign_up_still_logs_in_as_before(world):
    r = register("nouveau@exemple.fr")
    assert r.status_code == 201 and body(r)["email"] == "nouveau@exemple.fr"
    assert_error(register(world.p1.email), 409, "email_exists")


# --- password reset ---------------------------------------------------------------------------


def test_reset_answers_the_same_for_known_and_unknown_addresses(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        known = post("/api/auth/password-reset/", {"email": world.p1.email.upper()})
        unknown = post("/api/auth/password-reset/", {"email": "personne@exemple.fr"})
    assert known.status_code == unknown.status_code == 202
    assert body(known) == body(unknown)
    assert [m.to for m in mail.outbox] == [[world.p1.email]]


def test_an_inactive_account_gets_no_mail(world, django_capture_on_commit_callbacks):
    User.objects.filter(pk=world.p3.pk).update(is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert post("/api/auth/password-reset/", {"email": world.p3.email}).status_code == 202
    assert mail.outbox == []


def test_reset_link_uses_frontend_url(world, settings, django_capture_on_commit_callbacks):
    settings.FRONTEND_URL = "https://rdv.exemple.fr/"
    with django_capture_on_commit_callbacks(execute=True):
        post("/api/auth/password-reset/", {"email": world.p1.email})
    assert link_of(mail.outbox[0])["url"].startswith("https://rdv.exemple.fr/reinitialiser?uid=")


def test_reset_changes_the_password_of_an_existing_account(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post("/api/auth/password-reset/", {"email": world.p1.email})
    link = link_of(mail.outbox[0])
    assert post("/api/auth/password-reset/confirm/", {"uid": link["uid"], "token": link["token"],
                                                      "password": NEW_PASSWORD}).status_code == 200
    assert User.objects.get(pk=world.p1.pk).check_password(NEW_PASSWORD)
    assert_error(post("/api/auth/token/", {"email": world.p1.email, "password": f.PASSWORD}), 401)


@pytest.fixture
def link(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post("/api/auth/password-reset/", {"email": world.p1.email})
    return link_of(mail.outbox[0])


@pytest.mark.parametrize("change", [
    {"token": "abc-def"}, {"token": ""}, {"uid": "MTIzNDU2Nzg5"}, {"uid": "!!!"},
    {"uid": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5"}, {"uid": "LTE"}, {"uid": "YWJj"},
])
def test_a_bad_link_is_400_lien_invalide(world, link, change):
    payload = {"uid": link["uid"], "token": link["token"], "password": NEW_PASSWORD, **change}
    with unchanged():
        r = post("/api/auth/password-reset/confirm/", payload)
    assert r.status_code == 400 and body(r)["code"] in ("lien_invalide", "validation_error")
    if payload["token"] and payload["uid"]:
        assert body(r)["code"] == "lien_invalide"


def test_another_users_token_does_not_open_this_account(world, link):
    with unchanged():
        assert_error(post("/api/auth/password-reset/confirm/", {
            "uid": urlsafe_base64_encode(force_bytes(world.p2.pk)), "token": link["token"],
            "password": NEW_PASSWORD}), 400, "lien_invalide")


@pytest.mark.parametrize("password", ["court", "12345678901", "password123", "prenom"])
def test_weak_passwords_are_400_with_the_validators_messages(world, link, password):
    if password == "prenom":
        password = world.p1.email
    with unchanged():
        data = assert_error(post("/api/auth/password-reset/confirm/", {
            "uid": link["uid"], "token": link["token"], "password": password}), 400, "mot_de_passe_invalide")
    assert data["details"]["password"] and all(isinstance(m, str) for m in data["details"]["password"])


@pytest.mark.parametrize("payload", [{}, {"email": "pas-un-email"}, {"email": ["a@b.fr"]}, {"email": None}])
def test_bad_reset_requests_are_400(world, payload):
    assert_error(post("/api/auth/password-reset/", payload), 400, "validation_error")


@pytest.mark.parametrize("payload", [{}, {"uid": "x", "token": "y"}, {"uid": ["x"], "token": "y", "password": "z"},
                                     {"uid": "x" * 65, "token": "y", "password": "Mot-de-passe-s0lide"}])
def test_bad_confirm_requests_are_400(world, payload):
    with unchanged():
        assert_error(post("/api/auth/password-reset/confirm/", payload), 400, "validation_error")


def test_reset_is_throttled_per_email_and_ip(world, settings):
    rest = copy.deepcopy(settings.REST_FRAMEWORK)
    rest["DEFAULT_THROTTLE_RATES"].update(password_reset_email="2/hour", password_reset_ip="3/hour")
    settings.REST_FRAMEWORK = rest
    codes = [post("/api/auth/password-reset/", {"email": world.p1.email}).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    # Another address from the same client: the IP bucket (3) is nearly full.
    assert post("/api/auth/password-reset/", {"email": world.p2.email}).status_code == 429
    # The confirm step shares the IP bucket: refused from this client, answered from another.
    confirm = {"uid": "x", "token": "y", "password": "z"}
    assert_error(post("/api/auth/password-reset/confirm/", confirm), 429, "throttled")
    assert_error(post("/api/auth/password-reset/confirm/", confirm, REMOTE_ADDR="10.0.0.9"), 400, "lien_invalide")
