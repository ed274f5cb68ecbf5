"""A real SMTP server in the test process (aiosmtpd), that can refuse before accepting."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

from devtools.net import free_port


@dataclass
class Handler:
    """Answers 451 to the next ``refuse`` messages, then accepts (keeping each parsed)."""

    refuse: int = 0
    delay: float = 0.0
    received: list = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            if self.refuse > 0:
                self.refuse -= 1
                self.refused += 1
                return "451 4.3.0 Service temporairement indisponible"
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow server: senders overlap
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.append((envelope.rcpt_tos, message))
        return "250 2.0.0 OK"

    def wait_for(self, count: int, timeout: float = 30) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        return list(self.received)


@contextmanager
def smtp_server(handler: Handler | None = None):
    handler = handler or Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


def ics_of(message) -> str | None:
    for part in message.walk():
        if part.get_content_type() == "text/calendar":
            return part.get_content()
    return None


def text_of(message, subtype: str = "plain") -> str:
    body = message.get_body(preferencelist=(subtype,))
    return body.get_content() if body is not None else ""
