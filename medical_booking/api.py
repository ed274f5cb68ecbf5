"""API plumbing shared by every app: JSON errors ``{code, message, details?}``, paging,
request validation."""

from __future__ import annotations

import logging
import math
import sys

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import DomainError

logger = logging.getLogger(__name__)

MESSAGES = {
    "not_authenticated": "Authentification requise",
    "authentication_failed": "Identifiants invalides",
    "no_active_account": "Identifiants invalides ou compte désactivé",
    "user_inactive": "Compte désactivé",
    "user_not_found": "Utilisateur introuvable",
    "bad_authorization_header": "En-tête Authorization invalide : Bearer <token> attendu",
    "token_not_valid": "Token invalide ou expiré",
    "permission_denied": "Vous n'avez pas le droit d'effectuer cette action",
    "not_found": "Ressource introuvable",
    "method_not_allowed": "Méthode non autorisée",
    "parse_error": "Corps de requête JSON invalide",
    "unsupported_media_type": "Type de contenu non supporté : envoyez du JSON",
    "throttled": "Trop de requêtes, réessayez plus tard",
    "invalid": "Données invalides",
    "not_acceptable": "Format de réponse non disponible",
}


# The database refused or dropped us (no connection left, a lock wait timed out): a crowd
# or an outage, not the request's fault. A 503 the client may retry, never a 500.
UNAVAILABLE_CODE = "service_indisponible"
UNAVAILABLE_MESSAGE = "Service momentanément surchargé, réessayez dans quelques instants"
RETRY_AFTER_SECONDS = 2


def unavailable_response(response_class=JsonResponse):
    return response_class(error_body(UNAVAILABLE_CODE, UNAVAILABLE_MESSAGE), status=503,
                          headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 200


def valid(serializer_class, data, **kwargs) -> dict:
    """The request body validated by ``serializer_class``; invalid is a 400 ``validation_error``."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def error_body(code: str, message: str, details=None) -> dict:
    body = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return body


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, OperationalError):
        logger.warning("database unavailable: %s", exc)
        return unavailable_response(Response)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    if isinstance(exc, SuspiciousOperation):
        return Response(error_body("bad_request", "Requête refusée (trop volumineuse ou invalide)"),
                        status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error", exc_info=exc)
        return Response(error_body("server_error", "Erreur interne du serveur"), status=500)
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("validation_error", "Données invalides", response.data)
    elif isinstance(exc, exceptions.Throttled):  # Retry-After is set by DRF's handler
        wait = math.ceil(exc.wait) if exc.wait is not None else None
        body = error_body("throttled", MESSAGES["throttled"], {"retry_after": wait} if wait else None)
    else:
        codes = exc.get_codes() if isinstance(exc, exceptions.APIException) else None
        code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        extra = {k: v for k, v in response.data.items() if k != "detail"} if isinstance(response.data, dict) else None
        body = error_body(code, MESSAGES.get(code, str(detail or "Erreur")), extra or None)
    response.data = body
    return response


def json_error_view(status_code: int, code: str, message: str):
    def view(request, exception=None, *args, **kwargs):
        return JsonResponse(error_body(code, message), status=status_code)

    return view


handler400 = json_error_view(400, "bad_request", "Requête invalide")
handler403 = json_error_view(403, "permission_denied", MESSAGES["permission_denied"])
handler404 = json_error_view(404, "not_found", MESSAGES["not_found"])
_server_error = json_error_view(500, "server_error", "Erreur interne du serveur")


def handler500(request, *args, **kwargs):
    """Django calls this inside its ``except``: a database outage outside DRF is a 503 too."""
    if isinstance(sys.exc_info()[1], OperationalError):
        return unavailable_response()
    return _server_error(request, *args, **kwargs)
