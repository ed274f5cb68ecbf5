"""Token revocation in the API: logout ends the whole session, a password change or a
deactivation ends every session of the user, wherever it happens (service, admin,
``set_password``). The sockets side is in tests/test_socket_revocation.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from realtime.auth import (
    SESSION_CLAIM,
    VERSION_CLAIM,
    RevocableAccessToken,
    SessionRefreshToken,
    authenticate_token,
    authenticate_tokens,
)
from realtime.models import RevokedSession, TokenVersion
from rendezvous.models import User
from tests import factories as f
from tests import helpers
from tests.helpers import assert_error, bearer, body, login, me, refresh

pytestmark = pytest.mark.django_db
fast_hashers = helpers.fast_hashers  # fixture


def logout(access: str, refresh_token: str):
    return bearer(access).post("/api/auth/logout/", {"refresh": refresh_token}, format="json")


def test_login_opens_a_session_that_refresh_keeps():
    p = f.patient()
    first = login(p.email)
    sid = SessionRefreshToken(first["refresh"])[SESSION_CLAIM]
    assert RevocableAccessToken(first["access"])[SESSION_CLAIM] == sid
    assert RevocableAccessToken(first["access"])[VERSION_CLAIM] == 0
    rotated = body(refresh(first["refresh"]))
    assert SessionRefreshToken(rotated["refresh"])[SESSION_CLAIM] == sid
    assert RevocableAccessToken(rotated["access"])[SESSION_CLAIM] == sid
    # Another log-in is another session.
    assert SessionRefreshToken(login(p.email)["refresh"])[SESSION_CLAIM] != sid


def test_logout_refuses_every_token_of_the_session_and_only_those():
    p = f.patient()
    session = login(p.email)
    earlier_access = session["access"]
    rotated = body(refresh(session["refresh"]))  # a second access token of the same session
    other = login(p.email)  # another device
    assert logout(rotated["access"], rotated["refresh"]).status_code == 205
    for access in (earlier_access, rotated["access"]):
        assert_error(me(access), 401, "token_not_valid")
    assert_error(refresh(rotated["refresh"]), 401, "token_not_valid")
    assert RevokedSession.objects.filter(user=p).count() == 1
    # The other session is untouched.
    assert me(other["access"]).status_code == 200
    assert refresh(other["refresh"]).status_code == 200


def test_password_change_refuses_every_earlier_token(fast_hashers):
    p = f.patient()
    a, b = login(p.email), login(p.email)
    minted = str(RevocableAccessToken.for_user(p))
    legacy = f.access(p)  # a token without the version claim (version 0)
    assert me(minted).status_code == 200 and me(legacy).status_code == 200
    user = User.objects.get(pk=p.pk)
    user.set_password("An0ther-passphrase")
    user.save()
    assert TokenVersion.objects.get(user=p).version == 1
    for access in (a["access"], b["access"], minted, legacy):
        assert_error(me(access), 401, "token_not_valid")
    for token in (a["refresh"], b["refresh"]):
        assert_error(refresh(token), 401, "token_not_valid")
    fresh = login(p.email, "An0ther-passphrase")
    assert me(fresh["access"]).status_code == 200
    assert refresh(fresh["refresh"]).status_code == 200


def test_deactivation_in_the_admin_refuses_tokens_even_after_reactivation(client, fast_hashers):
    admin = f.superadmin(is_staff=True, is_superuser=True)
    client.force_login(admin)
    p = f.patient()
    tokens = login(p.email)
    url = f"/admin/rendezvous/user/{p.pk}/change/"
    form = {"email": p.email, "first_name": p.first_name, "last_name": p.last_name, "telephone": "",
            "role": p.role, "cabinet": "", "is_active": "", "is_staff": "", "is_superuser": "",
            "groups": [], "user_permissions": [], "password": p.password}
    response = client.post(url, form)
    assert response.status_code == 302, response.content[:2000]
    p.refresh_from_db()
    assert not p.is_active and TokenVersion.objects.get(user=p).version == 1
    assert_error(me(tokens["access"]), 401)
    # Reactivated: the tokens from before stay refused; a new log-in works.
    response = client.post(url, {**form, "is_active": "on"})
    assert response.status_code == 302
    assert TokenVersion.objects.get(user=p).version == 1  # reactivation revokes nothing
    assert_error(me(tokens["access"]), 401, "token_not_valid")
    assert_error(refresh(tokens["refresh"]), 401, "token_not_valid")
    assert me(login(p.email)["access"]).status_code == 200


def test_ordinary_saves_revoke_nothing():
    p = f.patient()
    tokens = login(p.email)
    client = f.client_for()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.patch("/api/me/", {"first_name": "Nouveau"}, format="json").status_code == 200
    user = User.objects.get(pk=p.pk)
    user.telephone = "0600000000"
    user.save()
    user.is_active = True
    user.save(update_fields=["is_active"])
    assert not TokenVersion.objects.filter(user=p).exists()
    assert me(tokens["access"]).status_code == 200


def test_stale_user_instance_cannot_bring_old_tokens_back(fast_hashers):
    p = f.patient()
    tokens = login(p.email)
    stale = User.objects.get(pk=p.pk)
    fresh = User.objects.get(pk=p.pk)
    fresh.set_password("An0ther-passphrase")
    fresh.save()
    stale.first_name = "Écrasé"
    stale.save()  # writes every User column, from before the password change
    assert_error(me(tokens["access"]), 401, "token_not_valid")


def test_rest_authentication_still_costs_two_queries():
    """The version check rides on the user query (a join), the session check replaces
    the per-token blacklist lookup: no extra query per request."""
    p = f.patient()
    access = login(p.email)["access"]
    with CaptureQueriesContext(connection) as queries:
        assert me(access).status_code == 200
    assert len(queries) == 2, [q["sql"] for q in queries]


# ---- the socket server's token check (realtime.auth.authenticate_token) -----------------


def socket_check(raw: str):
    """``authenticate_token`` and the queries it ran."""
    with CaptureQueriesContext(connection) as queries:
        identity = authenticate_token(raw)
    return identity, [q["sql"] for q in queries]


def test_a_socket_token_check_is_one_query_for_session_and_minted_tokens():
    """The user, their token version and the token's revocation (the session's row, or the
    jti's blacklist row for a token without a session) in one query."""
    p = f.patient()
    session = login(p.email)
    for raw in (session["access"], str(RevocableAccessToken.for_user(p))):
        identity, queries = socket_check(raw)
        assert identity is not None and identity.user.pk == p.pk, raw
        assert len(queries) == 1, queries
    assert socket_check(session["access"])[0].session == SessionRefreshToken(session["refresh"])[SESSION_CLAIM]


def test_a_socket_token_check_refuses_every_revoked_token_in_that_one_query(fast_hashers):
    p, other = f.patient(), f.patient()
    ended, kept = login(p.email), login(p.email)
    assert logout(ended["access"], ended["refresh"]).status_code == 205
    blacklisted = RevocableAccessToken.for_user(p)
    blacklisted.blacklist()
    minted = str(RevocableAccessToken.for_user(p))
    assert socket_check(kept["access"])[0] is not None
    for raw in (ended["access"], str(blacklisted)):
        identity, queries = socket_check(raw)
        assert identity is None and len(queries) == 1, raw
    # a revocation of another user's session or token refuses nothing here
    assert socket_check(minted)[0] is not None and socket_check(str(RevocableAccessToken.for_user(other)))[0]
    # a password change: every earlier token, session or not, is refused
    user = User.objects.get(pk=p.pk)
    user.set_password("An0ther-passphrase")
    user.save()
    for raw in (kept["access"], minted):
        assert socket_check(raw)[0] is None, raw
    assert socket_check(login(p.email, "An0ther-passphrase")["access"])[0] is not None


def test_a_socket_token_check_refuses_inactive_deleted_and_odd_tokens():
    p, gone = f.patient(), f.patient()
    inactive = str(RevocableAccessToken.for_user(p))
    User.objects.filter(pk=p.pk).update(is_active=False)
    deleted = str(RevocableAccessToken.for_user(gone))
    gone.delete()
    odd_session = RevocableAccessToken.for_user(f.patient())
    odd_session[SESSION_CLAIM] = 5  # signed by us, but a session id that is not a string
    odd_version = RevocableAccessToken.for_user(f.patient())
    odd_version[VERSION_CLAIM] = "0"
    expired = RevocableAccessToken.for_user(f.patient())
    expired.set_exp(lifetime=timedelta(seconds=-30))
    for raw in (inactive, deleted, str(odd_session), str(odd_version), str(expired), "x.y.z", "é" * 10):
        assert socket_check(raw)[0] is None, raw
    # no query at all for a token that does not verify
    assert socket_check(str(expired))[1] == [] and socket_check(str(odd_session))[1] == []


def test_a_storm_of_token_checks_is_one_query_with_each_token_judged_alone(fast_hashers):
    """``authenticate_tokens`` (the connects the socket server checks together): one query
    for the lot, and each token gets what ``authenticate_token`` gives it alone: two sessions
    of one user, one logged out; a blacklisted token beside a minted one; a token that does
    not verify; an inactive user; a password change."""
    p, q, r = f.patient(), f.patient(), f.patient()
    ended, kept = login(p.email), login(p.email)
    assert logout(ended["access"], ended["refresh"]).status_code == 205
    blacklisted = RevocableAccessToken.for_user(q)
    blacklisted.blacklist()
    minted = str(RevocableAccessToken.for_user(q))
    inactive = str(RevocableAccessToken.for_user(r))
    User.objects.filter(pk=r.pk).update(is_active=False)
    changed = f.patient()
    old = str(RevocableAccessToken.for_user(changed))
    changed.set_password("An0ther-passphrase")
    changed.save()
    raws = [ended["access"], kept["access"], str(blacklisted), minted, "x.y.z", inactive, old, kept["access"]]
    alone = [authenticate_token(raw) for raw in raws]
    with CaptureQueriesContext(connection) as queries:
        together = authenticate_tokens(raws)
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert [i and (i.user.pk, i.session, i.jti, i.version) for i in together] == \
        [i and (i.user.pk, i.session, i.jti, i.version) for i in alone]
    assert [i is not None for i in together] == [False, True, False, True, False, False, False, True]
    assert together[1].user is not together[7].user  # each row its own user object
    with CaptureQueriesContext(connection) as queries:
        assert authenticate_tokens(["x.y.z", "é"]) == [None, None] and authenticate_tokens([]) == []
    assert len(queries) == 0
