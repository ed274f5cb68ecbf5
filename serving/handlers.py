"""Django's ASGI handler, tuned for a server whose middleware and views are all synchronous.

``OneHopASGIHandler`` subclasses ``ASGIHandler``, which Django keeps out of its public API
(``django.core.asgi.get_asgi_application`` is the public door), and replaces its
``__init__``, ``__call__`` and ``get_response_async``. So ``serving.request_handler`` uses
it only on the exact Django version it was written for (``serving.versions``), and this
module is imported only after that check; on another Django, Django's own handler runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.db import connections
from django.http import HttpRequest, HttpResponseBase

# The views that hash a password (PBKDF2, ~0.25 s of CPU each): login, sign-up, and any
# future /api/auth/password... endpoint (reset, change).
PASSWORD_PATHS = frozenset({"/api/auth/token/", "/api/auth/register/"})
PASSWORD_PREFIX = "/api/auth/password"


def hashes_password(scope: dict) -> bool:
    """True for a request whose view may hash a password: it runs in the auth lane."""
    if scope.get("method") != "POST":
        return False
    path = scope.get("path", "")
    return path in PASSWORD_PATHS or path.startswith(PASSWORD_PREFIX)


class RequestThreads:
    """At most ``size`` request threads, kept for the life of the process.

    Django runs each ASGI request's sync code in a thread of its own
    (``ThreadSensitiveContext``): asgiref makes a new thread per request, then a second
    thread to join it. Reusing the threads saves that, and lets a thread keep its
    database connection between requests (``CONN_MAX_AGE``): connections are
    per-thread. The bound is what keeps a crowd from opening a connection per concurrent
    request: a request beyond it waits on the event loop (FIFO) for a thread; none is
    refused. Password-hashing requests also take a place in the smaller auth lane
    (``auth_size``), so a crowd of logins or sign-ups leaves ``size - auth_size`` threads
    to everyone else. Used from the event loop thread only.
    """

    def __init__(self, size: int, auth_size: int = 1) -> None:
        self.size = max(1, size)
        self.auth_size = max(1, min(auth_size, self.size))
        self._free = asyncio.Semaphore(self.size)
        self._auth = asyncio.Semaphore(self.auth_size)
        self._idle: list[ThreadPoolExecutor] = []
        self.started = 0  # threads made so far (never more than size)
        self.busy = 0

    def _executor(self) -> ThreadPoolExecutor:
        if self._idle:
            return self._idle.pop()  # the most recently used: its connection is warm
        self.started += 1
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="django-request")

    @asynccontextmanager
    async def thread(self, *, auth: bool = False) -> AsyncIterator[ThreadPoolExecutor]:
        """Wait for a free request thread (and a place in the auth lane if ``auth``)."""
        if auth:
            async with self._auth, self._free:
                async with self._lend() as executor:
                    yield executor
        else:
            async with self._free, self._lend() as executor:
                yield executor

    @asynccontextmanager
    async def _lend(self) -> AsyncIterator[ThreadPoolExecutor]:
        executor = self._executor()
        self.busy += 1
        try:
            yield executor
        finally:
            self.busy -= 1
            self._idle.append(executor)


class OneHopASGIHandler(ASGIHandler):
    """Run the middleware chain and the view in one ``sync_to_async`` call, on a kept thread.

    Every middleware here and every view is synchronous. Django's ASGIHandler loads the
    chain in async mode, which adapts each sync middleware hook and the view one by one:
    about twenty hand-offs between the event loop and the request's thread per request
    (a JSON 404 took 6 ms, a booking 15 ms of wall time for 6 ms of view CPU). Loading
    the chain in sync mode, as WSGI does, and calling it once from the loop keeps the same
    middleware, the same signals and one thread per request in flight; ``RequestThreads``
    bounds those threads, and with them the process's database connections.
    """

    def __init__(self, threads: int = 8, auth_threads: int = 2) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.threads = RequestThreads(threads, auth_threads)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        async with self.threads.thread(auth=hashes_password(scope)) as executor:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


def run_keeping_connection(fn, *args):
    """``fn(*args)`` on a request thread outside any request (``serving.on_request_thread``).

    A request's end closes its thread's connection if it broke or is too old
    (``close_old_connections``, on ``request_finished``); database work done outside a
    request does the part that matters here without the health-check round trip that
    follows it: a connection that had an error is tested and closed if unusable, so the
    thread's next call connects again (a restarted database costs one failed call).
    """
    try:
        return fn(*args)
    finally:
        for conn in connections.all(initialized_only=True):
            if conn.errors_occurred:
                conn.close_if_unusable_or_obsolete()
