"""Real processes for end-to-end tests: daphne servers and manage.py commands.

Each live stack gets its own database (a temporary SQLite file, or a fresh PostgreSQL
database when DATABASE_URL points at one), seeded with the demo data, and its own
channel-layer prefix, so it never hears the test process or another stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from devtools.net import free_port, http

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
THROTTLE_ENV = ("THROTTLE_LOGIN_IP", "THROTTLE_LOGIN_EMAIL", "THROTTLE_REGISTER",
                "THROTTLE_PASSWORD_RESET_IP", "THROTTLE_PASSWORD_RESET_EMAIL", "THROTTLE_BROADCAST")


def service_env(tmp: Path, *, postgres: bool, redis: bool) -> tuple[dict, callable]:
    """Environment for a stack, and a cleanup callable."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "medical_booking.settings",
        "FAST_PASSWORD_HASHER": "1",
        "CHANNEL_PREFIX": f"e2e-{uuid.uuid4().hex[:12]}",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
        # Plain text and no request lines: tests read the server's own lines from its log
        # (tests/test_operations_live.py turns JSON and request lines on).
        "LOG_FORMAT": "text",
        "ACCESS_LOG": "0",
        # Tests log in and sign up far more often than people: no throttling, except
        # where a test is about it (extra_env, tests/test_throttling.py).
        **{name: "1000000/min" for name in THROTTLE_ENV},
    })
    cleanup = lambda: None  # noqa: E731
    if postgres:
        import psycopg

        base = os.environ["DATABASE_URL"]
        name = f"mb_e2e_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        parts = urllib.parse.urlsplit(base)
        env["DATABASE_URL"] = urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))

        def cleanup() -> None:
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'e2e.sqlite3'}"
    if redis:
        env["REDIS_URL"] = os.environ["REDIS_URL"]
    return env, cleanup


def manage(env: dict, *args: str, timeout: float = 300, input: str | None = None) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=timeout, input=input,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@dataclass
class Server:
    env: dict
    port: int
    log: Path
    proc: subprocess.Popen | None = None
    args: list[str] = field(default_factory=list)  # extra daphne options

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origins(self) -> list[str]:
        """The origins of the pages this server serves (its own web front)."""
        return [f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"]

    def start(self) -> Server:
        # Socket.IO accepts browser origins from CORS_ALLOWED_ORIGINS only: add our own.
        configured = [o for o in self.env.get("CORS_ALLOWED_ORIGINS", "").split(",") if o]
        env = {**self.env, "CORS_ALLOWED_ORIGINS": ",".join(dict.fromkeys(configured + self.origins))}
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
             *self.args, "medical_booking.asgi:application"],
            cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited: {self.log.read_text()[-3000:]}")
            try:
                urllib.request.urlopen(self.url + "/api/schema/", timeout=2).read()
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise RuntimeError(f"daphne did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@dataclass
class Stack:
    """One database + one or more daphne servers sharing it (and Redis, if any)."""

    env: dict
    servers: list[Server] = field(default_factory=list)
    cleanup: callable = None
    tokens: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.servers[0].url

    def manage(self, *args: str, **kwargs) -> str:
        return manage(self.env, *args, **kwargs)

    def close(self) -> None:
        for s in self.servers:
            s.stop()
        if self.cleanup:
            self.cleanup()


def start_stack(tmp: Path, *, servers: int = 1, postgres: bool = False, redis: bool = False,
                extra_env: dict | None = None) -> Stack:
    env, cleanup = service_env(tmp, postgres=postgres, redis=redis)
    env.update(extra_env or {})
    stack = Stack(env=env, cleanup=cleanup)
    try:
        manage(env, "migrate", "--noinput", "-v", "0")
        # Without visit reasons: these stacks' clients book the seed's way, {creneau, motif}
        # (a doctor with reasons requires one); tests of reasons create them over the API.
        manage(env, "seed_demo", "--sans-motifs")
        for i in range(servers):
            stack.servers.append(Server(env=env, port=free_port(), log=tmp / f"daphne-{i}.log").start())
    except Exception:
        stack.close()
        raise
    return stack


# ``http`` and ``free_port`` (devtools/net.py, shared with bench/) are imported from here too.

def login(base_url: str, email: str, password: str = "demo1234") -> dict:
    status, body = http("POST", f"{base_url}/api/auth/token/", {"email": email, "password": password})
    assert status == 200, body
    return body
