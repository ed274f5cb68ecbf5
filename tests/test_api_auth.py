"""Auth endpoints (token, refresh, logout, register), /api/me/, and bad tokens as Bearer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import RefreshToken

from realtime.auth import RevocableAccessToken
from rendezvous.models import Role, User
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, bearer, body, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

ME_FIELDS = {"id", "email", "first_name", "last_name", "telephone", "role", "cabinet", "timezone"}


def login(email, password=f.PASSWORD):
    return f.client_for().post("/api/auth/token/", {"email": email, "password": password}, format="json")


# --- token -------------------------------------------------------------------------------


def test_token_returns_access_and_refresh_that_open_the_api():
    p = f.patient()
    r = login(p.email)
    data = body(r)
    assert r.status_code == 200
    assert set(data) == {"access", "refresh"}
    me = bearer(data["access"]).get("/api/me/")
    assert me.status_code == 200
    assert body(me)["id"] == p.pk


def test_token_email_is_case_insensitive():
    f.patient(email="camille@test.fr")
    r = login("Camille@Test.FR")
    assert r.status_code == 200, r.content


def test_token_wrong_password_is_401_json():
    p = f.patient()
    with unchanged():
        assert_error(login(p.email, "wrong-password"), 401, "no_active_account")


def test_token_unknown_email_is_401_json():
    with unchanged():
        assert_error(login("nobody@test.fr"), 401, "no_active_account")


def test_token_inactive_user_is_refused():
    p = f.patient(is_active=False)
    with unchanged():
        assert_error(login(p.email), 401)


def test_token_missing_fields_is_400():
    with unchanged():
        data = assert_error(f.client_for().post("/api/auth/token/", {}, format="json"), 400, "validation_error")
    assert set(data["details"]) == {"email", "password"}


def test_token_wrong_types_is_400():
    with unchanged():
        assert_error(f.client_for().post("/api/auth/token/", {"email": ["a"], "password": {"x": 1}},
                                         format="json"), 400, "validation_error")


# --- refresh -------------------------------------------------------------------------------


def test_refresh_rotates_and_blacklists_the_old_refresh():
    p = f.patient()
    tokens = body(login(p.email))
    r = f.client_for().post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    data = body(r)
    assert r.status_code == 200
    assert set(data) == {"access", "refresh"}
    assert data["refresh"] != tokens["refresh"]
    assert bearer(data["access"]).get("/api/me/").status_code == 200
    # The old refresh token was blacklisted by the rotation.
    again = f.client_for().post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert_error(again, 401, "token_not_valid")


def test_refresh_with_access_token_is_401():
    p = f.patient()
    access, _ = f.tokens(p)
    with unchanged():
        assert_error(f.client_for().post("/api/auth/token/refresh/", {"refresh": access}, format="json"),
                     401, "token_not_valid")


def test_refresh_malformed_is_401():
    with unchanged():
        assert_error(f.client_for().post("/api/auth/token/refresh/", {"refresh": "not.a.jwt"}, format="json"),
                     401, "token_not_valid")


def test_refresh_missing_is_400():
    with unchanged():
        assert_error(f.client_for().post("/api/auth/token/refresh/", {}, format="json"), 400, "validation_error")


# --- logout --------------------------------------------------------------------------------


def test_logout_blacklists_refresh_and_access():
    p = f.patient()
    tokens = body(login(p.email))
    client = bearer(tokens["access"])
    r = client.post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert r.status_code == 205
    # The access token used for the call is revoked too...
    assert_error(client.get("/api/me/"), 401, "token_not_valid")
    # ...and the refresh token cannot be rotated any more.
    assert_error(f.client_for().post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"),
                 401, "token_not_valid")
    # Logging in again works.
    assert login(p.email).status_code == 200


def test_logout_without_refresh_is_400_and_keeps_tokens_valid():
    p = f.patient()
    tokens = body(login(p.email))
    client = bearer(tokens["access"])
    with unchanged():
        assert_error(client.post("/api/auth/logout/", {}, format="json"), 400, "validation_error")
    assert client.get("/api/me/").status_code == 200


def test_logout_refresh_wrong_type_is_400():
    p = f.patient()
    tokens = body(login(p.email))
    with unchanged():
        assert_error(bearer(tokens["access"]).post("/api/auth/logout/", {"refresh": 12}, format="json"),
                     400, "validation_error")


def test_logout_malformed_refresh_is_400():
    p = f.patient()
    tokens = body(login(p.email))
    with unchanged():
        assert_error(bearer(tokens["access"]).post("/api/auth/logout/", {"refresh": "garbage"}, format="json"),
                     400, "token_not_valid")


def test_logout_with_someone_elses_refresh_is_403():
    p, other = f.patient(), f.patient()
    mine = body(login(p.email))
    theirs = body(login(other.email))
    with unchanged():
        assert_error(bearer(mine["access"]).post("/api/auth/logout/", {"refresh": theirs["refresh"]},
                                                 format="json"), 403)
    # The other user's session is untouched.
    assert f.client_for().post("/api/auth/token/refresh/", {"refresh": theirs["refresh"]},
                               format="json").status_code == 200


def test_logout_anonymous_is_401():
    p = f.patient()
    tokens = body(login(p.email))
    with unchanged():
        assert_error(f.client_for().post("/api/auth/logout/", {"refresh": tokens["refresh"]}, format="json"),
                     401, "not_authenticated")


# --- register ------------------------------------------------------------------------------


def test_register_creates_a_patient_who_can_log_in(settings):
    r = f.client_for().post("/api/auth/register/", {
        "email": "Nouveau@Test.fr", "password": "Un-bon-mot-de-passe", "first_name": "Nina",
        "last_name": "Roux", "telephone": "0600000000",
    }, format="json")
    data = body(r)
    assert r.status_code == 201
    assert data == {
        "id": data["id"], "email": "nouveau@test.fr", "first_name": "Nina", "last_name": "Roux",
        "telephone": "+33600000000", "role": "PATIENT", "cabinet": None,  # E.164
        "timezone": settings.TIME_ZONE,
    }
    user = User.objects.get(pk=data["id"])
    assert user.role == Role.PATIENT and user.cabinet_id is None and not user.is_staff
    assert login("nouveau@test.fr", "Un-bon-mot-de-passe").status_code == 200


def test_register_ignores_role_and_privilege_fields():
    r = f.client_for().post("/api/auth/register/", {
        "email": "pirate@test.fr", "password": "Un-bon-mot-de-passe", "role": "SUPERADMIN",
        "is_staff": True, "is_superuser": True, "cabinet": 1,
    }, format="json")
    assert r.status_code == 201
    user = User.objects.get(email="pirate@test.fr")
    assert (user.role, user.is_staff, user.is_superuser, user.cabinet_id) == (Role.PATIENT, False, False, None)


def test_register_duplicate_email_is_409():
    p = f.patient(email="deja@test.fr")
    with unchanged():
        assert_error(f.client_for().post("/api/auth/register/", {"email": "DEJA@test.fr",
                                                                 "password": "Un-bon-mot-de-passe"},
                                         format="json"), 409, "email_exists")
    assert User.objects.filter(email__iexact=p.email).count() == 1


def test_register_weak_password_is_400_on_the_password_field():
    with unchanged():
        data = assert_error(f.client_for().post("/api/auth/register/", {"email": "x@test.fr",
                                                                        "password": "12345678901"},
                                                format="json"), 400, "validation_error")
    assert "password" in data["details"]


def test_register_short_password_is_400():
    with unchanged():
        data = assert_error(f.client_for().post("/api/auth/register/", {"email": "x@test.fr", "password": "abc"},
                                                format="json"), 400, "validation_error")
    assert "password" in data["details"]


def test_register_invalid_email_is_400():
    with unchanged():
        data = assert_error(f.client_for().post("/api/auth/register/", {"email": "pas-un-email",
                                                                        "password": "Un-bon-mot-de-passe"},
                                                format="json"), 400, "validation_error")
    assert "email" in data["details"]


def test_register_missing_fields_is_400():
    with unchanged():
        data = assert_error(f.client_for().post("/api/auth/register/", {}, format="json"), 400, "validation_error")
    assert set(data["details"]) == {"email", "password"}


def test_register_list_body_is_400():
    with unchanged():
        assert_error(f.client_for().post("/api/auth/register/", [{"email": "a@test.fr"}], format="json"),
                     400, "validation_error")


def test_register_wrong_types_is_400():
    with unchanged():
        assert_error(f.client_for().post("/api/auth/register/", {"email": 42, "password": ["x"]}, format="json"),
                     400, "validation_error")


# --- me ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["p1", "med1", "admin1", "sa"])
def test_me_returns_own_profile(world, who):
    obj = getattr(world, who)
    u = obj.user if hasattr(obj, "user") else obj
    r = f.client_for(u).get("/api/me/")
    data = body(r)
    assert r.status_code == 200
    assert set(data) == ME_FIELDS
    assert (data["id"], data["email"], data["role"]) == (u.pk, u.email, u.role)
    assert data["cabinet"] == u.cabinet_id


@pytest.mark.parametrize("who", ["med1", "admin1"])
def test_me_gives_staff_their_practices_time_zone(world, who):
    # Issue 14: the front shows every date in the practice's zone, whatever the browser's.
    world.cab1.timezone = "America/Martinique"
    world.cab1.save()
    obj = getattr(world, who)
    u = obj.user if hasattr(obj, "user") else obj
    assert body(f.client_for(u).get("/api/me/"))["timezone"] == "America/Martinique"


def test_me_gives_a_patient_the_servers_time_zone(world, settings):
    # A patient belongs to no practice: the server's zone (TIME_ZONE); slots carry their own.
    settings.TIME_ZONE = "Europe/Brussels"
    assert body(f.client_for(world.p1).get("/api/me/"))["timezone"] == "Europe/Brussels"


def test_me_patch_updates_profile_but_refuses_role_email_or_cabinet(world):
    client = f.client_for(world.p1)
    # Issue 14: fields it does not change are refused (400), no longer silently ignored.
    with unchanged():
        data = assert_error(client.patch("/api/me/", {"first_name": "Alice", "role": "SUPERADMIN",
                                                      "email": "hijack@test.fr", "cabinet": world.cab1.pk},
                                         format="json"), 400, "champ_non_modifiable")
    assert sorted(data["details"]) == ["cabinet", "email", "role"]
    r = client.patch("/api/me/", {"first_name": "Alice", "telephone": "0102030405"}, format="json")
    data = body(r)
    assert r.status_code == 200
    assert data["first_name"] == "Alice" and data["telephone"] == "+33102030405"  # E.164
    world.p1.refresh_from_db()
    assert (world.p1.role, world.p1.cabinet_id) == (Role.PATIENT, None)
    assert world.p1.email != "hijack@test.fr"


def test_me_patch_too_long_is_400(world):
    client = f.client_for(world.p1)
    with unchanged():
        assert_error(client.patch("/api/me/", {"first_name": "x" * 500}, format="json"),
                     400, "validation_error")


def test_me_anonymous_is_401():
    assert_error(f.client_for().get("/api/me/"), 401, "not_authenticated")


# --- tokens used as Bearer -------------------------------------------------------------------


def _expired_access(u) -> str:
    token = RevocableAccessToken.for_user(u)
    token.set_exp(lifetime=-timedelta(minutes=1))
    return str(token)


def _forged(u) -> str:
    """Claims of one token, signature of another: the signature does not match."""
    mine, other = f.tokens(u)[0], f.tokens(u)[0]
    return mine.rsplit(".", 1)[0] + "." + other.rsplit(".", 1)[1]


@pytest.mark.parametrize("make", [
    pytest.param(lambda u: _expired_access(u), id="expired"),
    pytest.param(lambda u: "not-a-jwt", id="malformed"),
    pytest.param(lambda u: "a.b.c", id="three-garbage-parts"),
    pytest.param(lambda u: str(RefreshToken.for_user(u)), id="refresh-type"),
    pytest.param(lambda u: _forged(u), id="bad-signature"),
    pytest.param(lambda u: "x" * 10_000, id="huge"),
])
def test_bad_bearer_tokens_are_401_json(world, make):
    token = make(world.p1)
    with unchanged():
        r = bearer(token).get("/api/rendezvous/")
        assert_error(r, 401, "token_not_valid")
        assert_error(bearer(token).post("/api/rendezvous/", {"creneau": world.slot2.pk}, format="json"),
                     401, "token_not_valid")


def test_blacklisted_access_token_after_logout_is_401(world):
    access, refresh = f.tokens(world.p1)
    assert bearer(access).post("/api/auth/logout/", {"refresh": refresh}, format="json").status_code == 205
    with unchanged():
        assert_error(bearer(access).post("/api/rendezvous/", {"creneau": world.slot2.pk}, format="json"),
                     401, "token_not_valid")


def test_token_of_inactive_user_is_401(world):
    access, _ = f.tokens(world.p1)
    User.objects.filter(pk=world.p1.pk).update(is_active=False)
    with unchanged():
        assert_error(bearer(access).get("/api/me/"), 401)


def test_token_of_deleted_user_is_401(db):
    p = f.patient()
    access, _ = f.tokens(p)
    p.delete()
    assert_error(bearer(access).get("/api/me/"), 401)


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Token abc", "Basic dXNlcjpwYXNz"])
def test_malformed_authorization_headers_are_401_json(world, header):
    client = f.client_for()
    client.credentials(HTTP_AUTHORIZATION=header)
    with unchanged():
        assert_error(client.get("/api/me/"), 401)
