"""One middleware, outermost: times each Django request for
``http_request_duration_seconds`` and writes its line to the ``access`` logger.

The route is the URL pattern that matched (``/api/rendezvous/<id:pk>/``), never the raw
path, so the metric's labels stay few; a request no pattern matched is ``<unmatched>``.
The line names the route, not the path: a path may carry a secret (a calendar
subscription's token, ``/calendrier/<jeton>.ics``). The user is the one the view
authenticated (DRF sets it on the Django request), read without triggering a session
lookup of its own. Socket.IO and static files do not pass
through Django and are not counted here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty

from . import metrics

access_logger = logging.getLogger("access")
UNMATCHED = "<unmatched>"


def route_of(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or match.route is None:
        return UNMATCHED
    return "/" + str(match.route).lstrip("^")


def user_id_of(request: HttpRequest) -> int | None:
    user = request.__dict__.get("user")
    if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
        return None  # nobody authenticated this request (and we will not look)
    return user.pk if getattr(user, "is_authenticated", False) else None


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - start
        route = route_of(request)
        metrics.observe_request(request.method or "", route, response.status_code, seconds)
        if access_logger.isEnabledFor(logging.INFO):
            fields = {
                "request_id": response.get("X-Request-ID"),
                "user_id": user_id_of(request),
                "method": request.method,
                "route": route,
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 2),
            }
            access_logger.info("%s %s %s %.1f ms user=%s request_id=%s", request.method, route,
                               response.status_code, fields["duration_ms"], fields["user_id"],
                               fields["request_id"], extra={"http": fields})
        return response
