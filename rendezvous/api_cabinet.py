"""REST views of the practice's desk: patient records, rules, visit reasons. Thin, over
``rendezvous.patients``, ``rendezvous.regles`` and ``rendezvous.motifs``.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import journal
from medical_booking import routing  # noqa: F401  (registers the ``id`` path converter)
from medical_booking.api import valid
from medical_booking.errors import Introuvable, PermissionRefusee

from . import motifs, patients, policies, regles, selectors
from .api_agenda import ERREURS_AUTH, _erreur
from .models import Cabinet, Medecin, Motif, Role, User
from .serializers import ReglesSerializer
from .serializers_cabinet import (
    MotifEcritureSerializer,
    MotifSerializer,
    PatientCreateSerializer,
    PatientSerializer,
)


class PatientsView(GenericAPIView):
    """The practice's patients: search (name, e-mail, phone) and records made on the phone."""

    serializer_class = PatientSerializer
    queryset = User.objects.none()

    def get_queryset(self):
        qs = patients.patients_visibles(self.request.user)
        return patients.rechercher(qs, self.request.query_params.get("q", "")).order_by("last_name", "first_name", "id")

    @extend_schema(
        operation_id="patients_list",
        parameters=[OpenApiParameter("q", OpenApiTypes.STR, description="Nom, prénom, e-mail ou téléphone "
                                     "(comparé chiffre à chiffre : « 06 12 34 56 78 » trouve +33612345678)"),
                    OpenApiParameter("page", OpenApiTypes.INT), OpenApiParameter("page_size", OpenApiTypes.INT)],
        responses={200: PatientSerializer(many=True), **ERREURS_AUTH,
                   403: _erreur("permission_denied : réservé au cabinet (médecins, administrateurs) et "
                                "au super administrateur")},
        description="Personnel d'un cabinet : les patients qui y ont un rendez-vous ou dont il a créé la fiche ; "
                    "super administrateur : tous.",
    )
    def get(self, request):
        _staff_only(request.user)
        page = self.paginate_queryset(self.get_queryset())
        journal.lectures(request.user, journal.TypeObjet.PATIENT, {p.pk: [p.pk] for p in page})
        return self.get_paginated_response(PatientSerializer(page, many=True).data)

    @extend_schema(
        operation_id="patients_create",
        request=PatientCreateSerializer,
        responses={201: PatientSerializer, **ERREURS_AUTH,
                   400: _erreur("validation_error (téléphone invalide, champ manquant, e-mail invalide)"),
                   403: _erreur("permission_denied : réservé au cabinet et au super administrateur"),
                   409: _erreur("patient_existant (details.patient : l'id du patient de cet e-mail, pour qui "
                                "le cabinet peut alors prendre rendez-vous), email_exists (compte non patient)")},
        description="Une fiche patient créée au téléphone : sans mot de passe ; la personne la réclame en "
                    "s'inscrivant ou en réinitialisant le mot de passe avec cet e-mail (même compte, historique "
                    "conservé).",
    )
    def post(self, request):
        _staff_only(request.user)
        data = valid(PatientCreateSerializer, request.data)
        patient = patients.creer_patient(acteur=request.user, **data)
        return Response(PatientSerializer(patient).data, status=status.HTTP_201_CREATED)


def _staff_only(user: User) -> None:
    if user.role not in (Role.MEDECIN, Role.ADMINCABINET, Role.SUPERADMIN):
        raise PermissionRefusee("Réservé au personnel du cabinet")


class ReglesView(APIView):
    """A practice's rules: its staff read them, its administrators change them."""

    def _cabinet(self, request, cabinet_id: int) -> Cabinet:
        cabinet = Cabinet.objects.filter(pk=cabinet_id).first()
        if cabinet is None:
            raise Introuvable("Cabinet introuvable")
        if not policies.can_read_regles(request.user, cabinet.pk):
            raise PermissionRefusee("Réservé au personnel de ce cabinet")
        return cabinet

    @extend_schema(operation_id="cabinets_regles_retrieve", responses={
        200: ReglesSerializer, **ERREURS_AUTH, 403: _erreur("permission_denied : pas le personnel de ce cabinet"),
        404: _erreur("not_found : cabinet inconnu")})
    def get(self, request, cabinet_id: int):
        return Response(regles.regles_de(self._cabinet(request, cabinet_id)))

    @extend_schema(
        operation_id="cabinets_regles_partial_update", request=ReglesSerializer(partial=True),
        responses={200: ReglesSerializer, **ERREURS_AUTH,
                   400: _erreur("validation_error (délai 0–720 h, préavis 0–43200 min, maximum 1–100 ou null)"),
                   403: _erreur("permission_denied : seul un administrateur de ce cabinet (ou le super "
                                "administrateur) les modifie"),
                   404: _erreur("not_found : cabinet inconnu")},
        description="`delai_annulation_heures` : un patient ne peut plus annuler ni déplacer moins de tant d'heures "
                    "avant ; `preavis_minimum_minutes` : la réservation en ligne ferme tant de minutes avant ; "
                    "`max_rdv_a_venir` : rendez-vous à venir par patient dans le cabinet (null : sans limite). "
                    "Le personnel n'y est pas soumis.",
    )
    def patch(self, request, cabinet_id: int):
        cabinet = self._cabinet(request, cabinet_id)
        if not policies.can_write_regles(request.user, cabinet.pk):
            raise PermissionRefusee("Seul un administrateur du cabinet modifie ses règles")
        data = valid(ReglesSerializer, request.data, partial=True)
        cabinet = regles.modifier_regles(acteur=request.user, cabinet=cabinet, **data)
        return Response(regles.regles_de(cabinet))


def _medecin(medecin_id: int) -> Medecin:
    medecin = selectors.medecins().filter(pk=medecin_id).first()
    if medecin is None:
        raise Introuvable("Médecin introuvable")
    return medecin


ERREURS_MOTIF = {
    **ERREURS_AUTH,
    403: _erreur("permission_denied : ni le médecin, ni un administrateur de son cabinet"),
    404: _erreur("not_found : médecin ou motif inconnu"),
}


class MotifsView(APIView):
    @extend_schema(operation_id="medecins_motifs_list", responses={200: MotifSerializer(many=True), **ERREURS_AUTH,
                                                                    404: _erreur("not_found : médecin inconnu")},
                   description="Les motifs actifs ; un patient (ou le personnel d'un autre cabinet) ne voit que "
                               "ceux réservables en ligne. Liste simple, non paginée.")
    def get(self, request, medecin_id: int):
        medecin = _medecin(medecin_id)
        return Response(MotifSerializer(motifs.motifs_visibles(request.user, medecin), many=True).data)

    @extend_schema(operation_id="medecins_motifs_create", request=MotifEcritureSerializer,
                   responses={201: MotifSerializer, **ERREURS_MOTIF,
                              400: _erreur("validation_error (libellé vide ou > 120, durée hors 5–480)"),
                              409: _erreur("motif_existant : un motif actif de ce libellé existe (details.motif)")})
    def post(self, request, medecin_id: int):
        medecin = _medecin(medecin_id)
        if not policies.can_manage_agenda(request.user, medecin):
            raise PermissionRefusee("Seuls le médecin et les administrateurs de son cabinet gèrent ses motifs")
        data = valid(MotifEcritureSerializer, request.data)
        motif = motifs.creer_motif(acteur=request.user, medecin=medecin, **data)
        return Response(MotifSerializer(motif).data, status=status.HTTP_201_CREATED)


class MotifView(APIView):
    def _motif(self, request, medecin_id: int, motif_id: int) -> Motif:
        medecin = _medecin(medecin_id)
        if not policies.can_manage_agenda(request.user, medecin):
            raise PermissionRefusee("Seuls le médecin et les administrateurs de son cabinet gèrent ses motifs")
        motif = Motif.objects.select_related("medecin__cabinet").filter(pk=motif_id, medecin=medecin).first()
        if motif is None or not motif.actif:
            raise Introuvable("Motif introuvable")
        return motif

    @extend_schema(operation_id="medecins_motifs_partial_update", request=MotifEcritureSerializer(partial=True),
                   responses={200: MotifSerializer, **ERREURS_MOTIF,
                              400: _erreur("validation_error"),
                              409: _erreur("motif_existant")})
    def patch(self, request, medecin_id: int, motif_id: int):
        motif = self._motif(request, medecin_id, motif_id)
        data = valid(MotifEcritureSerializer, request.data, partial=True)
        motif = motifs.modifier_motif(acteur=request.user, motif=motif, **data)
        return Response(MotifSerializer(motif).data)

    @extend_schema(operation_id="medecins_motifs_destroy", responses={204: None, **ERREURS_MOTIF},
                   description="Retire le motif (actif = false) : les rendez-vous qui le nomment le gardent.")
    def delete(self, request, medecin_id: int, motif_id: int):
        motifs.retirer_motif(acteur=request.user, motif=self._motif(request, medecin_id, motif_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


# Included in medical_booking/urls.py.
urlpatterns = [
    path("patients/", PatientsView.as_view(), name="patients"),
    path("cabinets/<id:cabinet_id>/regles/", ReglesView.as_view(), name="cabinet-regles"),
    path("medecins/<id:medecin_id>/motifs/", MotifsView.as_view(), name="medecin-motifs"),
    path("medecins/<id:medecin_id>/motifs/<id:motif_id>/", MotifView.as_view(), name="medecin-motif"),
]
