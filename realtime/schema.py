"""OpenAPI: drf-spectacular's simplejwt extensions, for our subclasses (it matches the
exact classes), so the schema documents the same security scheme and token bodies."""

from __future__ import annotations

from drf_spectacular.contrib.rest_framework_simplejwt import (
    SimpleJWTScheme,
    TokenObtainPairSerializerExtension,
    TokenRefreshSerializerExtension,
)


class SessionJWTScheme(SimpleJWTScheme):
    target_class = "realtime.auth.JWTAuthentication"


class SessionTokenObtainPairSerializerExtension(TokenObtainPairSerializerExtension):
    target_class = "realtime.auth.SessionTokenObtainPairSerializer"


class SessionTokenRefreshSerializerExtension(TokenRefreshSerializerExtension):
    target_class = "realtime.auth.SessionTokenRefreshSerializer"
