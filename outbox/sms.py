"""SMS backends: ``SMS_BACKEND`` names one (a dotted path), the way Django names its
e-mail backend. A provider plugs in by subclassing ``BaseSmsBackend``: ``send`` returns
once the provider accepted the message and raises on any failure (the outbox then
tries again later, with backoff).
"""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string


class SmsError(Exception):
    """The provider refused the message or could not be reached."""


class BaseSmsBackend:
    def send(self, numero: str, texte: str) -> None:  # pragma: no cover - interface
        """Send ``texte`` to ``numero`` (E.164); raise on failure."""
        raise NotImplementedError


class ConsoleSmsBackend(BaseSmsBackend):
    """Writes each SMS to the server's output (``make run``)."""

    lock = threading.Lock()

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def send(self, numero: str, texte: str) -> None:
        with self.lock:
            self.stream.write(f"--- SMS de {settings.SMS_SENDER} à {numero} ---\n{texte}\n---\n")
            self.stream.flush()


class FileSmsBackend(BaseSmsBackend):
    """One file per SMS in ``SMS_FILE_PATH`` (a directory, made if missing)."""

    def __init__(self, path: str | None = None) -> None:
        self.path = Path(path or settings.SMS_FILE_PATH)

    def send(self, numero: str, texte: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        name = f"{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}.sms"
        (self.path / name).write_text(f"To: {numero}\nFrom: {settings.SMS_SENDER}\n\n{texte}\n", encoding="utf-8")


# What the in-memory backend "sent" (tests read it, like django.core.mail.outbox).
envoyes: list[tuple[str, str]] = []


class LocmemSmsBackend(BaseSmsBackend):
    def send(self, numero: str, texte: str) -> None:
        envoyes.append((numero, texte))


def get_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()
