"""A logged-in user's account (issue 14, item 3): ``PATCH /api/me/`` refuses what it does not
change, ``POST /api/me/password/`` and ``POST /api/auth/logout-all/``.

The sockets side (closed on every server) is in tests/test_logout_all_live.py.
"""

from __future__ import annotations

import copy
import json

import pytest

from realtime.auth import RevocableAccessToken
from realtime.bus import bus
from realtime.models import TokenVersion
from rendezvous.models import Role, User
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, bearer, body, login, me, refresh, unchanged

pytestmark = pytest.mark.django_db
fast_hashers, world = helpers.fast_hashers, helpers.world  # fixtures

NEW_PASSWORD = "Un-n0uveau-mot-de-passe"


def change_password(access: str, payload, **extra):
    return bearer(access).post("/api/me/password/", payload, format="json", **extra)


@pytest.fixture
def revocations(monkeypatch) -> list:
    """What was handed to the bus to close sockets: ``(user_id, sessions, jtis, version)``."""
    calls = []
    monkeypatch.setattr(bus, "revoke", lambda user_id, sessions=(), jtis=(), version=None: calls.append(
        (user_id, list(sessions), list(jtis), version)))
    return calls


@pytest.fixture
def rates(settings):
    def apply(**scopes: str) -> None:
        rest = copy.deepcopy(settings.REST_FRAMEWORK)
        rest["DEFAULT_THROTTLE_RATES"].update(scopes)
        settings.REST_FRAMEWORK = rest

    return apply


# --- PATCH /api/me/ ---------------------------------------------------------------------------


def test_patch_me_refuses_a_password_instead_of_ignoring_it(world):
    client = f.client_for(world.p1)
    with unchanged():
        data = assert_error(client.patch("/api/me/", {"password": NEW_PASSWORD, "first_name": "Alice"},
                                         format="json"), 400, "champ_non_modifiable")
    assert list(data["details"]) == ["password"]
    assert "/api/me/password/" in data["details"]["password"][0]
    assert User.objects.get(pk=world.p1.pk).check_password(f.PASSWORD)


@pytest.mark.parametrize("payload", [
    {"email": "hijack@test.fr"}, {"role": "SUPERADMIN"}, {"cabinet": 1}, {"id": 999},
    {"is_staff": True}, {"is_superuser": True}, {"is_active": False}, {"nouveau_champ": "x"},
    {"timezone": "America/New_York"},  # read-only: the practice's zone
    {"first_name": "Alice", "role": "PATIENT"},  # even unchanged, even beside an editable one
])
def test_patch_me_refuses_every_field_it_does_not_change(world, payload):
    client = f.client_for(world.p1)
    with unchanged():
        data = assert_error(client.patch("/api/me/", payload, format="json"), 400, "champ_non_modifiable")
    refused = sorted(k for k in payload if k not in ("first_name", "last_name", "telephone"))
    assert sorted(data["details"]) == refused
    assert all(isinstance(m, str) and m for k in refused for m in data["details"][k])


def test_patch_me_refuses_the_password_before_judging_the_other_fields(world):
    with unchanged():
        data = assert_error(f.client_for(world.p1).patch("/api/me/", {"password": "x", "telephone": "abc"},
                                                         format="json"), 400, "champ_non_modifiable")
    assert list(data["details"]) == ["password"]


def test_patch_me_changes_name_and_phone_in_e164(world):
    r = f.client_for(world.p1).patch("/api/me/", {"first_name": "Alice", "last_name": "Durand",
                                                  "telephone": "06 12 34 56 78"}, format="json")
    assert r.status_code == 200, r.content
    assert (body(r)["first_name"], body(r)["last_name"], body(r)["telephone"]) == ("Alice", "Durand", "+33612345678")
    user = User.objects.get(pk=world.p1.pk)
    assert (user.first_name, user.last_name, user.telephone, user.role) == ("Alice", "Durand", "+33612345678",
                                                                            Role.PATIENT)


@pytest.mark.parametrize(("numero", "raison"), [
    ("abc", "Numéro invalide : ce n'est pas un numéro de téléphone."),
    ("12", "Numéro invalide : ce numéro n'existe pas."),
    ("06 12 34 56 78 90 12 34 56", "Numéro invalide : ce numéro n'existe pas."),
    ("+999 6 12 34 56 78", "Numéro invalide : indicatif de pays inconnu."),
    ("+", "Numéro invalide : ce n'est pas un numéro de téléphone."),
])
def test_patch_me_explains_a_bad_phone_number_in_french(world, numero, raison):
    # Issue 14: the profile screen shows this under the field (phonenumbers' text is English).
    with unchanged():
        data = assert_error(f.client_for(world.p1).patch("/api/me/", {"telephone": numero}, format="json"),
                            400, "telephone_invalide")
    assert data["details"] == {"telephone": [raison]}
    assert data["message"].startswith("Numéro de téléphone invalide")


@pytest.mark.parametrize("raw", ['[{"first_name": "x"}]', '"texte"', "3", "null", "{"])
def test_patch_me_with_a_body_that_is_not_an_object_is_400(world, raw):
    with unchanged():
        data = assert_error(f.client_for(world.p1).patch("/api/me/", raw, content_type="application/json"), 400)
    assert data["code"] in ("validation_error", "parse_error")


def test_a_profile_change_keeps_the_session(world):
    tokens = login(world.p1.email)
    assert bearer(tokens["access"]).patch("/api/me/", {"first_name": "Zoé"}, format="json").status_code == 200
    assert me(tokens["access"]).status_code == 200
    assert refresh(tokens["refresh"]).status_code == 200


# --- POST /api/me/password/ -------------------------------------------------------------------


def test_password_change_ends_every_session_and_gives_this_device_a_new_one(
        world, revocations, django_capture_on_commit_callbacks):
    p = world.p1
    here, elsewhere = login(p.email), login(p.email)
    other_user = login(world.p2.email)
    with django_capture_on_commit_callbacks(execute=True):
        r = change_password(here["access"], {"current_password": f.PASSWORD, "new_password": NEW_PASSWORD})
    data = body(r)
    assert r.status_code == 200, data
    assert data["code"] == "mot_de_passe_modifie" and data["message"]
    assert set(data) == {"code", "message", "access", "refresh"}
    # Every earlier token of the user is refused, this device's included...
    for tokens in (here, elsewhere):
        assert_error(me(tokens["access"]), 401, "token_not_valid")
        assert_error(refresh(tokens["refresh"]), 401, "token_not_valid")
    # ...their sockets are closed on every server (those of earlier tokens, published after commit)...
    assert revocations == [(p.pk, [], [], 1)]
    assert TokenVersion.objects.get(user=p).version == 1
    # ...and the pair returned works, as a new session.
    assert body(me(data["access"]))["id"] == p.pk
    assert RevocableAccessToken(data["access"])["sid"] not in {RevocableAccessToken(t["access"])["sid"]
                                                               for t in (here, elsewhere)}
    rotated = refresh(data["refresh"])
    assert rotated.status_code == 200 and me(body(rotated)["access"]).status_code == 200
    # The new password logs in, the old one no longer does; another user is untouched.
    assert User.objects.get(pk=p.pk).check_password(NEW_PASSWORD)
    assert_error(f.client_for().post("/api/auth/token/", {"email": p.email, "password": f.PASSWORD},
                                     format="json"), 401)
    login(p.email, NEW_PASSWORD)
    assert me(other_user["access"]).status_code == 200 and refresh(other_user["refresh"]).status_code == 200


def test_a_wrong_current_password_is_400_and_changes_nothing(world, revocations):
    tokens = login(world.p1.email)
    with unchanged():
        data = assert_error(change_password(tokens["access"], {"current_password": "pas-le-bon",
                                                               "new_password": NEW_PASSWORD}),
                            400, "mot_de_passe_incorrect")
    assert list(data["details"]) == ["current_password"]
    assert revocations == []
    assert me(tokens["access"]).status_code == 200 and refresh(tokens["refresh"]).status_code == 200


def test_the_current_password_is_compared_exactly_as_typed(world):
    tokens = login(world.p1.email)
    with unchanged():
        assert_error(change_password(tokens["access"], {"current_password": f" {f.PASSWORD} ",
                                                        "new_password": NEW_PASSWORD}), 400, "mot_de_passe_incorrect")


@pytest.mark.parametrize("new", ["court", "12345678901", "password123", "EMAIL", "SAME"])
def test_a_weak_or_unchanged_new_password_is_400_with_the_reasons(world, new):
    new = {"EMAIL": world.p1.email, "SAME": f.PASSWORD}.get(new, new)
    tokens = login(world.p1.email)
    with unchanged():
        data = assert_error(change_password(tokens["access"], {"current_password": f.PASSWORD,
                                                               "new_password": new}), 400, "mot_de_passe_invalide")
    messages = data["details"]["new_password"]
    assert messages and all(isinstance(m, str) and m for m in messages)
    assert me(tokens["access"]).status_code == 200


@pytest.mark.parametrize("payload", [
    {}, {"current_password": f.PASSWORD}, {"new_password": NEW_PASSWORD},
    {"current_password": [f.PASSWORD], "new_password": NEW_PASSWORD},
    {"current_password": f.PASSWORD, "new_password": None},
    {"current_password": f.PASSWORD, "new_password": {"a": 1}},
    {"current_password": f.PASSWORD, "new_password": "x" * 129},
    [f.PASSWORD, NEW_PASSWORD], "texte",
])
def test_bad_password_change_requests_are_400(world, payload):
    tokens = login(world.p1.email)
    with unchanged():
        assert_error(change_password(tokens["access"], payload), 400, "validation_error")


def test_password_change_needs_a_valid_token(world):
    payload = {"current_password": f.PASSWORD, "new_password": NEW_PASSWORD}
    with unchanged():
        assert_error(f.client_for().post("/api/me/password/", payload, format="json"), 401, "not_authenticated")
        assert_error(change_password("pas.un.token", payload), 401, "token_not_valid")


def test_wrong_current_passwords_end_in_429_for_that_account(world, rates):
    rates(password_change="3/hour")
    tokens = login(world.p1.email)
    wrong = {"current_password": "faux", "new_password": NEW_PASSWORD}
    statuses = [change_password(tokens["access"], wrong, REMOTE_ADDR=f"10.0.0.{i}").status_code for i in range(3)]
    assert statuses == [400, 400, 400]
    with unchanged():  # whatever the address, even with the right password
        r = change_password(tokens["access"], {"current_password": f.PASSWORD, "new_password": NEW_PASSWORD},
                            REMOTE_ADDR="10.9.9.9")
        data = assert_error(r, 429, "throttled")
    retry_after = int(r["Retry-After"])
    assert 1 <= retry_after <= 3600 and data["details"] == {"retry_after": retry_after}
    # Counted per account: another session of the same account is refused, another account is not.
    assert_error(change_password(login(world.p1.email)["access"], wrong), 429, "throttled")
    assert change_password(login(world.p2.email)["access"], {
        "current_password": f.PASSWORD, "new_password": NEW_PASSWORD}).status_code == 200


# --- POST /api/auth/logout-all/ ---------------------------------------------------------------


def test_logout_all_refuses_every_token_of_the_user_and_closes_their_sockets(
        world, revocations, django_capture_on_commit_callbacks):
    p = world.p1
    here, elsewhere = login(p.email), login(p.email)
    rotated = body(refresh(elsewhere["refresh"]))
    minted = str(RevocableAccessToken.for_user(p))
    other_user = login(world.p2.email)
    with django_capture_on_commit_callbacks(execute=True):
        r = bearer(here["access"]).post("/api/auth/logout-all/")
    assert r.status_code == 200 and body(r)["code"] == "sessions_fermees" and body(r)["message"]
    for access in (here["access"], elsewhere["access"], rotated["access"], minted):
        assert_error(me(access), 401, "token_not_valid")
    for token in (here["refresh"], rotated["refresh"]):
        assert_error(refresh(token), 401, "token_not_valid")
    assert revocations == [(p.pk, [], [], 1)]
    # Another user keeps their sessions; the user logs in again with the same password.
    assert me(other_user["access"]).status_code == 200 and refresh(other_user["refresh"]).status_code == 200
    fresh = login(p.email)
    assert me(fresh["access"]).status_code == 200 and refresh(fresh["refresh"]).status_code == 200
    assert User.objects.get(pk=p.pk).check_password(f.PASSWORD)


def test_logout_all_ignores_a_body_and_works_for_every_role(world, revocations, django_capture_on_commit_callbacks):
    for user in (world.med1.user, world.admin1, world.sa):
        tokens = login(user.email)
        with django_capture_on_commit_callbacks(execute=True):
            r = bearer(tokens["access"]).post("/api/auth/logout-all/", {"refresh": "quelconque", "x": [1]},
                                              format="json")
        assert r.status_code == 200, r.content
        assert_error(refresh(tokens["refresh"]), 401, "token_not_valid")
    assert [c[0] for c in revocations] == [world.med1.user.pk, world.admin1.pk, world.sa.pk]


def test_logout_all_needs_a_valid_token(world, revocations, django_capture_on_commit_callbacks):
    tokens = login(world.p1.email)
    with unchanged():
        assert_error(f.client_for().post("/api/auth/logout-all/"), 401, "not_authenticated")
        assert_error(bearer("pas.un.token").post("/api/auth/logout-all/"), 401, "token_not_valid")
        assert_error(bearer(tokens["refresh"]).post("/api/auth/logout-all/"), 401, "token_not_valid")
    with django_capture_on_commit_callbacks(execute=True):
        assert bearer(tokens["access"]).post("/api/auth/logout-all/").status_code == 200
    # Its own token is spent too: a second call is a 401, nothing more is revoked.
    assert_error(bearer(tokens["access"]).post("/api/auth/logout-all/"), 401, "token_not_valid")
    assert len(revocations) == 1


def test_the_new_endpoints_are_in_the_schema_with_their_errors():
    schema = json.loads(f.client_for().get("/api/schema/?format=json").content)
    paths = schema["paths"]
    assert set(paths["/api/me/password/"]["post"]["responses"]) >= {"200", "400", "401", "429"}
    assert set(paths["/api/auth/logout-all/"]["post"]["responses"]) >= {"200", "401"}
    assert set(paths["/api/me/"]["patch"]["responses"]) >= {"200", "400"}
