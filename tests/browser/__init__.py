"""Browser tests' driver: Debian's headless Chromium through playwright-core (Node)."""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DRIVER = HERE / "driver.mjs"


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not installed (apt-get install -y chromium)"
    if shutil.which("node") is None:
        return "node not installed"
    for package in ("playwright-core", "axe-core"):
        if not (HERE / "node_modules" / package).is_dir():
            return f"{package} not installed (make node, or cd tests/browser && npm ci)"
    return None


class BrowserError(AssertionError):
    pass


class Browser:
    """One Chromium; each named page has its own browser context (own localStorage)."""

    def __init__(self, timeout: float = 60):
        self.timeout = timeout
        self.ids = itertools.count(1)
        self.proc = subprocess.Popen(
            ["node", str(DRIVER)], cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1, env={**os.environ, "CHROMIUM": CHROMIUM},
        )
        self.lines: queue.Queue = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()
        self.version = self._answer(0)["version"]

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith('{"id"'):
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def _read_err(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _answer(self, id_: int) -> object:
        while True:
            try:
                msg = self.lines.get(timeout=self.timeout)
            except queue.Empty as exc:
                raise BrowserError(f"browser driver did not answer within {self.timeout}s") from exc
            if msg is None:
                raise BrowserError("browser driver exited: " + "".join(self.stderr)[-3000:])
            if msg.get("id") == id_:
                if not msg.get("ok"):
                    raise BrowserError(msg.get("error"))
                return msg.get("result")

    def call(self, op: str, **kwargs) -> object:
        id_ = next(self.ids)
        self.proc.stdin.write(json.dumps({"id": id_, "op": op, **kwargs}) + "\n")
        self.proc.stdin.flush()
        return self._answer(id_)

    def page(self, name: str, **kwargs) -> Page:
        self.call("open", page=name, **kwargs)
        return Page(self, name)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("close")
            except (BrowserError, OSError, ValueError):
                pass
            try:
                self.proc.stdin.close()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()


class Page:
    def __init__(self, browser: Browser, name: str):
        self.browser = browser
        self.name = name

    def __getattr__(self, op: str):
        def run(*args, **kwargs):
            names = {
                "goto": ["url"], "fill": ["selector", "value"], "press": ["selector", "key"],
                "click": ["selector"], "wait": ["selector"], "text": ["selector"], "count": ["selector"],
                "eval": ["expression"], "waitFunction": ["expression"], "screenshot": ["path"],
                "key": ["key"], "type": ["text"],
            }.get(op, [])
            kwargs.update(dict(zip(names, args, strict=False)))
            return self.browser.call(op, page=self.name, **kwargs)

        return run


def sign_in(browser: Browser, name: str, url: str, email: str, password: str = "demo1234", **options) -> Page:
    """A page of its own (``options`` for ``open``: viewport, locale, timezoneId) logged in
    through the login form, submitted by Enter; returned once its socket is live."""
    page = browser.page(name, **options)
    page.goto(url + "/")
    page.wait("#login-form")
    page.fill("#email", email)
    page.fill("#password", password)
    page.press("#password", "Enter")
    page.wait('#live[data-live="on"]')
    return page
