"""JWT checks shared by REST and sockets: one access token opens both, and the same
revocations close both.

Tokens carry two claims of ours besides simplejwt's:

- ``sid``: the session, drawn at log-in, kept by every refresh (simplejwt copies the
  refresh token's claims into its access tokens and keeps them on rotation). Logout
  revokes the session: every token of it is refused from then on, not only the two
  sent to ``/api/auth/logout/``.
- ``ver``: the user's token version at issue. A password change or a deactivation bumps
  the version (``revoke_user``), which refuses every earlier token of that user. It lives
  in its own table (``TokenVersion``), not on ``User``, so that saving a stale ``User``
  instance can never write an older version back.

Each revocation is also published on the bus (``bus.revoke``) so that every server closes
the sockets it holds for that session or user.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer, TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import AccessToken, BlacklistMixin, RefreshToken, Token

from .bus import bus
from .models import RevokedSession, TokenVersion
from .selectors import identity_row, identity_rows

TOKEN_REQUIRED = "Token d'authentification requis"
TOKEN_INVALID = "Token invalide"
MAX_TOKEN_LENGTH = 4096
# extract_token's answer for a token that is present but unusable (refused as invalid).
INVALID_TOKEN = "\x00invalid"

SESSION_CLAIM = "sid"
VERSION_CLAIM = "ver"


def current_version(user_id: int) -> int:
    return TokenVersion.objects.filter(pk=user_id).values_list("version", flat=True).first() or 0


def version_of(token: Token) -> int:
    """The ``ver`` claim; tokens minted without one count as version 0."""
    value = token.get(VERSION_CLAIM, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def session_of(token: Token) -> str | None:
    value = token.get(SESSION_CLAIM)
    return value if isinstance(value, str) else None


class SessionRevocationMixin:
    """Refuses a token whose session was logged out (one indexed lookup)."""

    def check_session(self) -> None:
        session = self.payload.get(SESSION_CLAIM)
        if session is None:
            return
        if not isinstance(session, str) or RevokedSession.objects.filter(pk=session).exists():
            raise TokenError("Token is blacklisted")


class RevocableAccessToken(SessionRevocationMixin, BlacklistMixin, AccessToken):
    """An access token that logout can revoke before it expires."""

    def revocation_keys(self) -> tuple[str | None, object]:
        """``(session, jti)``, what logout revokes this token by (one of them, or neither).

        A session token is revoked with its session (logout revokes the session of the
        refresh and of the access token it was called with); a token without a session
        (minted by for_user) is revoked by its own jti, as simplejwt does; a null session,
        by neither. A session that is not a string is refused (TokenError). REST checks
        the keys here (``check_blacklist``), the socket server in its one query
        (``authenticate_token``)."""
        if SESSION_CLAIM not in self.payload:
            return None, self.payload[api_settings.JTI_CLAIM]
        session = self.payload[SESSION_CLAIM]
        if session is not None and not isinstance(session, str):
            raise TokenError("Token is blacklisted")
        return session, None

    def check_blacklist(self) -> None:
        session, jti = self.revocation_keys()
        if session is not None:
            self.check_session()
        elif jti is not None:
            super().check_blacklist()

    @classmethod
    def for_user(cls, user) -> RevocableAccessToken:
        token = super().for_user(user)
        token[VERSION_CLAIM] = current_version(user.pk)
        return token


class SessionRefreshToken(SessionRevocationMixin, RefreshToken):
    """A refresh token that opens a session: its ``sid`` and ``ver`` pass to every access
    token made from it, and survive rotation."""

    access_token_class = RevocableAccessToken

    def check_blacklist(self) -> None:
        super().check_blacklist()
        self.check_session()

    @classmethod
    def for_user(cls, user) -> SessionRefreshToken:
        token = super().for_user(user)
        token[SESSION_CLAIM] = uuid.uuid4().hex
        token[VERSION_CLAIM] = current_version(user.pk)
        return token


class SessionTokenObtainPairSerializer(TokenObtainPairSerializer):
    """The log-in serializer (``SIMPLE_JWT["TOKEN_OBTAIN_SERIALIZER"]``): a new session."""

    token_class = SessionRefreshToken

    class Meta:
        ref_name = "TokenObtainPair"  # the OpenAPI component keeps simplejwt's name


class SessionTokenRefreshSerializer(TokenRefreshSerializer):
    """Refresh (``SIMPLE_JWT["TOKEN_REFRESH_SERIALIZER"]``): refused once the session was
    logged out or the user's tokens were revoked."""

    token_class = SessionRefreshToken

    class Meta:
        ref_name = "TokenRefresh"

    def validate(self, attrs):
        refresh = self.token_class(attrs["refresh"])  # signature, expiry, blacklist, session
        user_id = refresh.payload.get(api_settings.USER_ID_CLAIM)
        if user_id is not None and version_of(refresh) != current_version(user_id):
            raise TokenError("Token is blacklisted")
        return super().validate(attrs)


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's, plus the version check, on the user row it loads anyway (one join:
    ``selectors.identity_row``, the socket server's read, without its revocation part,
    which the token class checked)."""

    def get_user(self, validated_token: Token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        user = identity_row(user_id, None, None, check=False)
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        if not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if version_of(validated_token) != user.token_version_number:
            raise InvalidToken("Token is blacklisted")
        return user


# ---- revocation ---------------------------------------------------------------------------

def revoke_user(user_id: int) -> None:
    """Every token of this user issued so far stops working, and their sockets close.

    Called on a password change or a deactivation (``rendezvous.signals.access_revoked``)
    and by "log out everywhere". The sockets closed are those opened with an earlier
    version: the session that follows (a new log-in, the pair a password change returns)
    connects at once and stays, even on a server the revocation reaches late.
    """
    with transaction.atomic(savepoint=False):
        TokenVersion.objects.get_or_create(user_id=user_id)
        TokenVersion.objects.filter(pk=user_id).update(version=F("version") + 1)
        version = TokenVersion.objects.filter(pk=user_id).values_list("version", flat=True).get()
        transaction.on_commit(partial(bus.revoke, user_id, version=version))


def end_session(user, refresh: RefreshToken, access: Token) -> None:
    """Logout: the refresh token, the access token used, and their sessions are revoked;
    the sockets of those sessions close on every server."""
    refresh.blacklist()
    sessions = {s for s in (session_of(refresh), session_of(access)) if s}
    with transaction.atomic(savepoint=False):
        for session in sessions:
            RevokedSession.objects.get_or_create(sid=session, defaults={"user_id": user.pk})
        if session_of(access) is None and isinstance(access, BlacklistMixin):
            access.blacklist()
        # Rows older than any token they could refuse are dead weight.
        lifetime = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"] + timedelta(days=1)
        RevokedSession.objects.filter(revoked_at__lt=timezone.now() - lifetime).delete()
        jti = access.get(api_settings.JTI_CLAIM)
        transaction.on_commit(partial(
            bus.revoke, user.pk, sessions=sorted(sessions), jtis=[jti] if isinstance(jti, str) else []
        ))


# ---- sockets ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SocketIdentity:
    user: object
    exp: int
    session: str | None
    jti: str | None
    version: int = 0  # the token's ``ver``: a revocation of the user closes earlier versions


def extract_token(environ: dict, auth: object) -> str | None:
    """``auth.token`` (browsers) or an ``Authorization`` header read by REST's own rule
    (``Bearer``, exactly as ``SIMPLE_JWT["AUTH_HEADER_TYPES"]``, then one token)."""
    if isinstance(auth, dict):
        token = auth.get("token")
        if isinstance(token, str) and token.strip():
            return token.strip()
        if token is not None and not (isinstance(token, str) and not token.strip()):
            return INVALID_TOKEN  # present but not a string: refused as invalid
    header = environ.get("HTTP_AUTHORIZATION")
    if not isinstance(header, str):
        return None
    try:
        raw = authentication.JWTAuthentication().get_raw_token(header.encode("utf-8", "replace"))
    except AuthenticationFailed:  # "Bearer" with no token, or with several parts
        return INVALID_TOKEN
    return raw.decode("utf-8", "replace") if raw else None


class SocketAccessToken(RevocableAccessToken):
    """An access token read by the socket server: signature, expiry and type are checked
    on reading; whether it was revoked (``RevocableAccessToken.revocation_keys``) is read
    in the same query as its user (``selectors.identity_row``), not in one query of its own."""

    def check_blacklist(self) -> None:
        return None


# A token that verified, with its revocation keys (session, jti); None for one that did not.
TokenRead = tuple[SocketAccessToken, str | None, object] | None


def authenticate_token(raw: str) -> SocketIdentity | None:
    """The active user an access token belongs to, or None (never says why: no oracle).

    One database query: the token's user, token version and revocation together."""
    return authenticate_tokens([raw])[0]


def _read(raw: str) -> TokenRead:
    """The token and its revocation keys, if its signature, expiry and type hold; no database."""
    if len(raw) > MAX_TOKEN_LENGTH or not raw.isascii():  # a JWT is ASCII (PyJWT would raise)
        return None
    try:
        token = SocketAccessToken(raw)
        return (token, *token.revocation_keys())
    except TokenError:
        return None


def authenticate_tokens(raws: list[str]) -> list[SocketIdentity | None]:
    """:func:`authenticate_token` for many tokens in one query (``selectors.identity_rows``):
    the connects of a reconnect storm are checked together (``realtime.server``)."""
    read = [_read(raw) for raw in raws]
    rows = identity_rows([_row_key(r) for r in read])
    return [_identity(r, user) for r, user in zip(read, rows, strict=True)]


def _row_key(read: TokenRead) -> tuple:
    """``selectors.identity_rows``'s key for a token read: (user id, session, jti, check)."""
    if read is None:
        return None, None, None, False  # names no one: no row
    token, session, jti = read
    return token.get(api_settings.USER_ID_CLAIM), session, jti, session is not None or jti is not None


def _identity(read: TokenRead, user) -> SocketIdentity | None:
    if read is None or user is None or user.token_revoked or not user.is_active:
        return None
    token, session, _ = read
    version = version_of(token)
    if version != user.token_version_number:
        return None
    jti = token.get(api_settings.JTI_CLAIM)
    return SocketIdentity(user=user, exp=int(token["exp"]), session=session,
                          jti=jti if isinstance(jti, str) else None, version=version)
