"""``GET /healthz``, ``GET /readyz``, ``GET /metrics``: thin views over ``health``,
``access`` and the registry.

None reads a JWT (an operator's probe has no user, and ``/metrics`` takes its own bearer
token) and none negotiates the response format: a probe gets the same body whatever it
sends in ``Accept``.
"""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from medical_booking.api import error_body

from . import (
    collectors,  # noqa: F401  (registers the scrape-time gauges)
    metrics,
)
from .access import may_read_metrics
from .health import readiness

NOT_READY_CODE = "service_non_pret"
METRICS_FORBIDDEN = ("metriques_interdites",
                     "Métriques réservées aux adresses autorisées (METRICS_ALLOWED_IPS) "
                     "ou au jeton METRICS_TOKEN")
METRICS_OFF = ("metriques_desactivees", "Métriques désactivées (METRICS_ENABLED=false)")
CHECK_NAMES = {"database": "base de données", "bus": "bus (Redis)",
               "reminder_scheduler": "planificateur des rappels",
               "slot_generation": "génération des créneaux",
               "hold_scheduler": "planificateur des retenues"}


class FirstRenderer(BaseContentNegotiation):
    """The view's own format whatever ``Accept`` says (no 406 for a probe)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class OperatorView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    renderer_classes = (JSONRenderer,)
    content_negotiation_class = FirstRenderer
    throttle_classes = ()


Erreur = inline_serializer("OperationsErreur", {
    "code": serializers.CharField(), "message": serializers.CharField(),
    "details": serializers.JSONField(required=False)})



class VerificationSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    error = serializers.CharField(required=False, help_text="Ce qui a échoué (type seul pour un client "
                                                            "non autorisé à lire /metrics).")


class PretSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="ok")
    checks = serializers.DictField(child=VerificationSerializer(),
                                   help_text="database, bus, reminder_scheduler, slot_generation, hold_scheduler")


class NonPretSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    status = serializers.CharField(help_text="degraded")
    checks = serializers.DictField(child=VerificationSerializer())


class HealthzView(OperatorView):
    @extend_schema(
        operation_id="healthz", tags=["operations"], auth=[],
        responses={200: inline_serializer("Vivant", {"status": serializers.CharField(help_text="ok")})},
        description="Le processus sert des requêtes. Aucun accès à la base : pour la sonde de vie.")
    def get(self, request):
        return JsonResponse({"status": "ok"})


class ReadyzView(OperatorView):
    @extend_schema(
        operation_id="readyz", tags=["operations"], auth=[],
        responses={200: PretSerializer, 503: OpenApiResponse(NonPretSerializer, description=(
            f"{NOT_READY_CODE} : une vérification a échoué (base de données, bus Redis, "
            "planificateurs) ; le détail des erreurs seulement pour les clients autorisés à "
            "lire /metrics."))},
        description="Base de données (SELECT 1), bus (PING Redis) et planificateurs du serveur "
                    "(un tour depuis moins de trois intervalles), chacun borné par READYZ_TIMEOUT.")
    def get(self, request):
        ready, checks = readiness(details=may_read_metrics(request))
        if ready:
            return JsonResponse({"status": "ok", "checks": checks})
        failed = ", ".join(CHECK_NAMES.get(name, name) for name, check in checks.items() if not check["ok"])
        body = error_body(NOT_READY_CODE, f"Service pas prêt : {failed}")
        return JsonResponse({**body, "status": "degraded", "checks": checks}, status=503)


class MetricsView(OperatorView):
    @extend_schema(
        operation_id="metrics", tags=["operations"],
        responses={
            (200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description=(
                "Format texte Prometheus (OpenMetrics si Accept le demande), compteurs de ce "
                "processus seulement.")),
            403: OpenApiResponse(Erreur, description=f"{METRICS_FORBIDDEN[0]} : adresse hors "
                                 "METRICS_ALLOWED_IPS et pas de Bearer METRICS_TOKEN"),
            404: OpenApiResponse(Erreur, description=f"{METRICS_OFF[0]} : METRICS_ENABLED=false"),
        },
        description="Lisible depuis METRICS_ALLOWED_IPS ou avec Authorization: Bearer <METRICS_TOKEN>.")
    def get(self, request):
        if not may_read_metrics(request):
            return JsonResponse(error_body(*METRICS_FORBIDDEN), status=403)
        if not metrics.enabled():
            return JsonResponse(error_body(*METRICS_OFF), status=404)
        encoder, content_type = choose_encoder(request.META.get("HTTP_ACCEPT", ""))
        return HttpResponse(encoder(REGISTRY), content_type=content_type)
