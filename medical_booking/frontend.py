"""The web front: one HTML page at ``/`` (and ``/login``); its assets are static files.

``frontend/`` is in STATICFILES_DIRS, so ``/static/js/app.js`` etc. are served by the
ASGIStaticFilesHandler already wrapping Django. The page talks to the public REST API
and Socket.IO only.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET

INDEX = settings.BASE_DIR / "frontend" / "index.html"


@require_GET
def index(request):
    response = HttpResponse(INDEX.read_bytes(), content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response
