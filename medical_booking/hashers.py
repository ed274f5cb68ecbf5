"""Django's PBKDF2-SHA256 hasher with its iteration count from settings.

Same algorithm name as Django's (``pbkdf2_sha256``): hashes made by either verify with
the other, and a login re-hashes a password whose count differs from the setting. The
count is Django's own unless ``PASSWORD_HASH_ITERATIONS`` is set; tests that need hashing
to cost real time, but less than a production hash, set it (e.g. 200,000: ~45 ms here).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import hashers


class PBKDF2PasswordHasher(hashers.PBKDF2PasswordHasher):
    @property
    def iterations(self) -> int:
        return settings.PASSWORD_HASH_ITERATIONS or hashers.PBKDF2PasswordHasher.iterations
