"""Request throttling: atomic counters in Django's cache, shared by every process on Redis.

Scopes and rates are in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (settings, from the
environment). A refused request is a 429 ``{code: "throttled", message, details:
{retry_after}}`` with a ``Retry-After`` header (medical_booking/api.py).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

from django.core.cache import caches
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)

_last_outage_log = 0.0


def _log_outage(exc: Exception) -> None:
    """One line, at most every 10 s: a cache outage must not flood the log."""
    global _last_outage_log
    now = time.monotonic()
    if now - _last_outage_log >= 10:
        _last_outage_log = now
        logger.warning("throttling skipped, cache unavailable: %s", exc)


class CacheRateThrottle(SimpleRateThrottle):
    """A window per key that opens at its first hit and lasts the rate's period.

    Counted with ``cache.add`` + ``cache.incr``: atomic on Redis and in local memory, so
    N concurrent attempts against a limit of L let exactly L through, across processes.
    (DRF's ``SimpleRateThrottle`` reads a history and writes it back: concurrent requests
    all read the same history and all pass.) If the cache is unreachable the request is
    let through (logged): an outage of Redis must not turn logins into 500s.
    """

    scope: str = ""

    def get_rate(self) -> str | None:
        # Read at each request: DRF binds THROTTLE_RATES at import, so settings changes
        # (tests, reloads) would be ignored.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str | None:
        ident = self.get_ident_for(request)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def get_ident_for(self, request) -> str | None:
        """What is counted (None: not counted). Default: the client's IP address."""
        return self.get_ident(request)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        try:
            count = self._hit(self.key)
        except (RedisError, OSError) as exc:
            _log_outage(exc)
            return True
        return count <= self.num_requests

    def _hit(self, key: str) -> int:
        cache = caches["default"]
        for _ in range(3):
            if cache.add(key, 0, timeout=self.duration):
                cache.set(f"{key}:start", time.time(), timeout=self.duration)
            try:
                return cache.incr(key)
            except ValueError:  # the window closed between add and incr: open the next one
                continue
        return 0

    def wait(self) -> int:
        try:
            start = caches["default"].get(f"{self.key}:start")
        except (RedisError, OSError):
            start = None
        if start is None:
            return self.duration
        return max(1, math.ceil(start + self.duration - time.time()))


class EmailThrottle(CacheRateThrottle):
    """Counted per target e-mail (``email`` in the JSON body), whatever the client's IP.

    The address is hashed: no e-mail in the cache.
    """

    def get_ident_for(self, request) -> str | None:
        data = request.data
        email = data.get("email") if isinstance(data, dict) else None
        if not isinstance(email, str) or not email.strip():
            return None
        return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class LoginIPThrottle(CacheRateThrottle):
    scope = "login_ip"


class LoginEmailThrottle(EmailThrottle):
    scope = "login_email"


class RegisterThrottle(CacheRateThrottle):
    scope = "register"


class PasswordResetIPThrottle(CacheRateThrottle):
    """For the password reset endpoint (issue 14): scopes and rates are defined now."""

    scope = "password_reset_ip"


class PasswordResetEmailThrottle(EmailThrottle):
    scope = "password_reset_email"


class UserThrottle(CacheRateThrottle):
    """Counted per authenticated user (anonymous requests are refused before: not counted)."""

    def get_ident_for(self, request) -> str | None:
        user = getattr(request, "user", None)
        return f"user-{user.pk}" if user is not None and user.pk is not None else None


class PasswordChangeThrottle(UserThrottle):
    """Attempts at ``POST /api/me/password/`` per account: a stolen access token must not
    become a way to guess the current password (issue 14)."""

    scope = "password_change"


class BroadcastThrottle(UserThrottle):
    """Per sending user: a broadcast fans out to many sockets."""

    scope = "broadcast"
