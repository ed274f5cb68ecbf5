"""JWT checks shared by REST and sockets: one access token opens both."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, BlacklistMixin

TOKEN_REQUIRED = "Token d'authentification requis"
TOKEN_INVALID = "Token invalide"
MAX_TOKEN_LENGTH = 4096


class RevocableAccessToken(BlacklistMixin, AccessToken):
    """An access token that logout can revoke before it expires."""


@dataclass(frozen=True)
class SocketIdentity:
    user: object
    exp: int


def extract_token(environ: dict, auth: object) -> str | None:
    """``auth.token`` (browsers) or an ``Authorization: Bearer`` header (other clients)."""
    if isinstance(auth, dict):
        token = auth.get("token")
        if isinstance(token, str) and token.strip():
            return token.strip()
        if token is not None and not (isinstance(token, str) and not token.strip()):
            return "\x00invalid"  # present but not a string: refused as invalid
    header = environ.get("HTTP_AUTHORIZATION", "")
    if isinstance(header, str) and header.lower().startswith("bearer "):
        token = header[7:].strip()
        return token or None
    return None


def authenticate_token(raw: str) -> SocketIdentity | None:
    """The active user an access token belongs to, or None (never says why: no oracle)."""
    if len(raw) > MAX_TOKEN_LENGTH:
        return None
    try:
        token = RevocableAccessToken(raw)  # signature, expiry, type=access, blacklist
    except TokenError:
        return None
    user_id = token.get("user_id")
    if user_id is None:
        return None
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return None
    return SocketIdentity(user=user, exp=int(token["exp"]))
