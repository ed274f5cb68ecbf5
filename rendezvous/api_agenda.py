"""REST views of a doctor's weekly hours and absences: thin, over ``rendezvous.agenda``.

``/api/medecins/{id}/horaires/`` and ``/api/medecins/{id}/absences/[{id}/]``: the doctor,
their practice's admins and super admins (``policies.can_manage_agenda``).
"""

from __future__ import annotations

import django_filters
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import journal
from medical_booking import routing  # noqa: F401  (registers the ``id`` path converter)
from medical_booking.api import valid
from medical_booking.errors import Introuvable, PermissionRefusee

from . import agenda, policies, selectors
from .models import Absence, Medecin
from .serializers_agenda import (
    AbsenceCreateSerializer,
    AbsenceDeclareeSerializer,
    AbsenceSerializer,
    HorairesRemplacesSerializer,
    HorairesSerializer,
    SemaineSerializer,
    rendezvous_a_deplacer,
)


class ErreurSerializer(serializers.Serializer):
    """Every error: a machine ``code``, a French ``message``, sometimes ``details``."""

    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(required=False)


def _erreur(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErreurSerializer, description=description)


ERREURS_AUTH = {401: _erreur("not_authenticated, token_not_valid")}
COMMON_ERRORS = {
    **ERREURS_AUTH,
    403: _erreur("permission_denied : ni le médecin, ni un administrateur de son cabinet"),
    404: _erreur("not_found : médecin (ou absence) inconnu"),
}


def _medecin(request, medecin_id: int) -> Medecin:
    """The doctor whose agenda the caller manages: unknown → 404, someone else's → 403."""
    medecin = selectors.medecins().filter(pk=medecin_id).first()
    if medecin is None:
        raise Introuvable("Médecin introuvable")
    if not policies.can_manage_agenda(request.user, medecin):
        raise PermissionRefusee("Vous ne gérez pas l'agenda de ce médecin")
    return medecin


def _horaires_data(medecin: Medecin, horaires) -> dict:
    return {"horaires": SemaineSerializer(horaires).data, "timezone": medecin.cabinet.timezone}


class HorairesView(APIView):
    """A doctor's weekly hours; PUT replaces the whole week and regenerates the slots."""

    @extend_schema(operation_id="medecins_horaires_retrieve", responses={200: HorairesSerializer, **COMMON_ERRORS})
    def get(self, request, medecin_id: int):
        medecin = _medecin(request, medecin_id)
        return Response(_horaires_data(medecin, agenda.horaires_de(medecin)))

    @extend_schema(
        operation_id="medecins_horaires_update",
        request=SemaineSerializer,
        responses={200: HorairesRemplacesSerializer, **COMMON_ERRORS,
                   400: _erreur("validation_error (fin <= début, durée hors 5–480, plage plus courte "
                                "qu'un créneau, jour hors 0–6), horaires_chevauchement")},
        description="Remplace toute la semaine en une transaction ; retire les créneaux libres générés "
                    "qui ne correspondent plus aux horaires et génère les nouveaux jusqu'à l'horizon.",
    )
    def put(self, request, medecin_id: int):
        medecin = _medecin(request, medecin_id)
        plages = valid(SemaineSerializer, request.data)
        done = agenda.remplacer_horaires(acteur=request.user, medecin=medecin, plages=plages)
        return Response({**_horaires_data(medecin, done.horaires), "crees": done.crees, "retires": done.retires})


class AbsenceFilter(django_filters.FilterSet):
    # true/false only: anything else is a 400 (a boolean filter would ignore it).
    a_venir = django_filters.ChoiceFilter(choices=[("true", "true"), ("false", "false")],
                                          method="filter_a_venir", label="Absences pas encore finies (true/false)")

    class Meta:
        model = Absence
        fields = ["a_venir"]

    def filter_a_venir(self, queryset, name, value):
        now = timezone.now()
        return queryset.filter(fin__gt=now) if value == "true" else queryset.filter(fin__lte=now)


class AbsencesView(GenericAPIView):
    """A doctor's absences; POST declares one (withdraws the free slots it covers)."""

    serializer_class = AbsenceSerializer
    filterset_class = AbsenceFilter
    queryset = Absence.objects.none()

    def get_queryset(self):
        return agenda.absences_de(self.medecin)

    @extend_schema(operation_id="medecins_absences_list", responses={200: AbsenceSerializer(many=True),
                                                                      **COMMON_ERRORS})
    def get(self, request, medecin_id: int):
        self.medecin = _medecin(request, medecin_id)
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(AbsenceSerializer(page, many=True).data)

    @extend_schema(
        operation_id="medecins_absences_create",
        request=AbsenceCreateSerializer,
        responses={201: AbsenceDeclareeSerializer, **COMMON_ERRORS,
                   400: _erreur("validation_error (fin <= début, plus d'un an), absence_passee")},
        description="Déclare une absence : les créneaux libres qu'elle couvre sont retirés (générés ou "
                    "publiés à la main) ; les rendez-vous pris restent et sont listés avec le téléphone "
                    "du patient pour que le cabinet les déplace.",
    )
    def post(self, request, medecin_id: int):
        self.medecin = _medecin(request, medecin_id)
        data = valid(AbsenceCreateSerializer, request.data)
        done = agenda.declarer_absence(acteur=request.user, medecin=self.medecin, **data)
        journal.lecture_rendezvous(request.user, done.a_deplacer)  # the access log: patients shown
        return Response({
            "absence": AbsenceSerializer(done.absence).data,
            "creneaux_retires": done.retires,
            "rendezvous_a_deplacer": [rendezvous_a_deplacer(r) for r in done.a_deplacer],
        }, status=status.HTTP_201_CREATED)


class AbsenceView(APIView):
    @extend_schema(
        operation_id="medecins_absences_destroy",
        responses={204: None, **COMMON_ERRORS, 409: _erreur("absence_passee : une absence passée reste")},
        description="Supprime une absence pas encore finie et régénère les créneaux de sa période.",
    )
    def delete(self, request, medecin_id: int, absence_id: int):
        medecin = _medecin(request, medecin_id)
        absence = agenda.absences_de(medecin).filter(pk=absence_id).first()
        if absence is None:
            raise Introuvable("Absence introuvable")
        agenda.supprimer_absence(acteur=request.user, absence=absence)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Included in medical_booking/urls.py.
urlpatterns = [
    path("medecins/<id:medecin_id>/horaires/", HorairesView.as_view(), name="medecin-horaires"),
    path("medecins/<id:medecin_id>/absences/", AbsencesView.as_view(), name="medecin-absences"),
    path("medecins/<id:medecin_id>/absences/<id:absence_id>/", AbsenceView.as_view(), name="medecin-absence"),
]
