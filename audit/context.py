"""Where a request came from, for the access log, without threading ``request`` through
every service: a small middleware puts it in a context variable for the request's
duration. Outside a request (manage.py commands, tasks) there is none, and rows record
no IP.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from rest_framework.settings import api_settings

from .models import Canal


@dataclass(frozen=True)
class ContexteRequete:
    ip: str | None
    user_agent: str
    methode: str
    chemin: str
    request_id: str
    canal: str


_contexte: ContextVar[ContexteRequete | None] = ContextVar("audit_contexte_requete", default=None)


def contexte_courant() -> ContexteRequete | None:
    return _contexte.get()


def texte_propre(value: str, limit: int) -> str:
    """Storable text from client bytes: no NUL (PostgreSQL refuses it), no lone surrogate."""
    value = value.replace("\x00", "\\x00")
    return value.encode("utf-8", "backslashreplace").decode("utf-8")[:limit]


def _ip_ou_rien(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or, behind N trusted proxies (DRF's
    ``NUM_PROXIES``, the setting its throttles use), the address the nearest of them saw.
    ``X-Forwarded-For`` is ignored unless that is configured: a client can write it."""
    remote = request.META.get("REMOTE_ADDR")
    proxies = api_settings.NUM_PROXIES
    xff = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies and xff:
        addrs = [a.strip() for a in xff.split(",")]
        return _ip_ou_rien(addrs[-min(proxies, len(addrs))])
    return _ip_ou_rien(remote)


def _canal(path: str) -> str:
    if path.startswith("/api/"):
        return Canal.API
    if path.startswith("/admin/"):
        return Canal.ADMIN
    return Canal.AUTRE


class ContexteRequeteMiddleware:
    """Sets the request context for the access log; answers with ``X-Request-ID``.

    The id is generated here (a client-sent one would be forgeable) and returned so a
    support request can be matched to the log's rows.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        contexte = ContexteRequete(
            ip=client_ip(request),
            user_agent=texte_propre(request.META.get("HTTP_USER_AGENT", ""), 300),
            methode=texte_propre(request.method or "", 10),
            chemin=texte_propre(request.get_full_path(), 500),
            request_id=uuid.uuid4().hex,
            canal=_canal(request.path),
        )
        token = _contexte.set(contexte)
        try:
            response = self.get_response(request)
        finally:
            _contexte.reset(token)
        response["X-Request-ID"] = contexte.request_id
        return response
