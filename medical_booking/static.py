"""Static files (the web front's assets, the admin's, the API docs'), served in-process.

Django's ``ASGIStaticFilesHandler`` serves them outside the middleware chain: no security
headers, and a path escaping the static roots (``/static/../settings.py``) raised
``SuspiciousFileOperation`` past it, which daphne answered with an HTML 500. Here a
static response goes through the same header middleware as any Django response
(``SecurityMiddleware``: nosniff, HSTS and the HTTPS redirect when on, referrer and
opener policies; ``CSPMiddleware``), and every refusal is the API's JSON error: a path
outside the roots is a 400, an unknown file a 404, a method other than GET/HEAD a 405.
"""

from __future__ import annotations

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from django.utils.module_loading import import_string

from .api import MESSAGES, error_body

HEADER_MIDDLEWARE = (
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
)


class StaticFilesHandler(ASGIStaticFilesHandler):
    """``ASGIStaticFilesHandler`` whose ``serve`` runs inside the header middleware."""

    def __init__(self, application) -> None:
        super().__init__(application)
        handler = convert_exception_to_response(self._serve_file)
        for path in reversed(HEADER_MIDDLEWARE):
            handler = convert_exception_to_response(import_string(path)(handler))
        self._chain = handler

    def serve(self, request: HttpRequest) -> HttpResponseBase:
        # Exceptions (Http404, SuspiciousFileOperation, anything else) come back as the
        # project's JSON error views (handler404/400/500), with the headers added.
        return self._chain(request)

    def _serve_file(self, request: HttpRequest) -> HttpResponseBase:
        if request.method not in ("GET", "HEAD"):
            return JsonResponse(error_body("method_not_allowed", MESSAGES["method_not_allowed"]),
                                status=405, headers={"Allow": "GET, HEAD"})
        return super().serve(request)
