"""Django's ASGI handler, tuned for a server whose middleware and views are all synchronous."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest, HttpResponseBase


class RequestThreads:
    """Single-thread executors kept from one request to the next.

    Django runs each ASGI request's sync code in a thread of its own
    (``ThreadSensitiveContext``): asgiref makes a new thread per request, then a second
    thread to join it. Reusing the threads saves that, and lets a thread keep its
    database connection between requests (``CONN_MAX_AGE``): connections are
    per-thread, so with a thread per request they could not be reused. Used from the
    event loop thread only.
    """

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._idle: list[ThreadPoolExecutor] = []

    def acquire(self) -> ThreadPoolExecutor:
        if self._idle:
            return self._idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="django-request")

    def release(self, executor: ThreadPoolExecutor) -> None:
        if len(self._idle) < self.keep:
            self._idle.append(executor)
        else:  # a burst is over: let the extra thread go
            executor.shutdown(wait=False)


class OneHopASGIHandler(ASGIHandler):
    """Run the middleware chain and the view in one ``sync_to_async`` call, on a kept thread.

    Every middleware here and every view is synchronous. Django's ASGIHandler loads the
    chain in async mode, which adapts each sync middleware hook and the view one by one:
    about twenty hand-offs between the event loop and the request's thread per request
    (a JSON 404 took 6 ms, a booking 15 ms of wall time for 6 ms of view CPU). Loading
    the chain in sync mode, as WSGI does, and calling it once from the loop keeps the same
    middleware, the same signals and one thread per request in flight.
    """

    def __init__(self, threads: int = 8) -> None:
        BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self.threads = RequestThreads(keep=threads)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        executor = self.threads.acquire()
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.threads.release(executor)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)
