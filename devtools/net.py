"""Loopback networking for tests and benchmarks: a free port, a small JSON HTTP client.

Standard library only: the server is the thing under test, and bench scripts
(``python bench/x.py``) import this with nothing but the project root on ``sys.path``.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request


def free_port() -> int:
    """A TCP port nobody listens on at this moment, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body=None, token: str | None = None, raw: bytes | None = None,
         headers: dict | None = None, timeout: float = 60) -> tuple[int, object]:
    """One request; the status and the JSON body (the text when an error body is not JSON)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Content-Type": "application/json", "Accept": "application/json", **(headers or {})}
    if token:
        h["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            content = resp.read()
            return resp.status, json.loads(content) if content else None
    except urllib.error.HTTPError as exc:
        content = exc.read()
        try:
            return exc.code, json.loads(content) if content else None
        except ValueError:
            return exc.code, content.decode(errors="replace")
