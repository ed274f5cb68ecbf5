"""REST views of holds (``/api/creneaux/{id}/hold/``) and the waiting list
(``/api/liste-attente/``): thin, over ``attente.services``; patients only."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response
from rest_framework.views import APIView

from medical_booking import routing  # noqa: F401  (registers the ``id`` path converter)
from medical_booking.api import valid
from medical_booking.errors import CreneauIndisponible, DomainError, Introuvable, PermissionRefusee
from rendezvous.api_agenda import ERREURS_AUTH, _erreur
from rendezvous.models import Creneau, Medecin, Motif, Role
from rendezvous.serializers import CreneauSerializer

from . import services
from .models import InscriptionAttente
from .serializers import InscriptionCreateSerializer, InscriptionSerializer, RetenueSerializer, offres_vivantes


def _patient(request) -> None:
    if request.user.role != Role.PATIENT:
        raise PermissionRefusee("Réservé aux patients", code="role_interdit")


class RetenueView(APIView):
    @extend_schema(
        request=None,
        responses={201: RetenueSerializer, **ERREURS_AUTH,
                   403: _erreur("role_interdit : seul un patient retient un créneau"),
                   404: _erreur("not_found : créneau inconnu"),
                   409: _erreur("creneau_retenu : retenu pour un autre patient ; creneau_indisponible : réservé "
                                "ou retiré (details.creneau) ; creneau_passe")},
        description="Retient le créneau pour le patient pendant `RETENUE_SECONDES` (300 s par défaut) le temps "
                    "de réserver : les autres patients (et le cabinet) reçoivent 409 `creneau_retenu`, les écrans "
                    "qui suivent l'agenda reçoivent `creneau:unavailable`, puis `creneau:available` s'il n'est "
                    "pas réservé à temps. Un patient retient un créneau à la fois : le précédent est libéré.",
    )
    def post(self, request, id: int):
        _patient(request)
        creneau = get_object_or_404(Creneau, pk=id)
        try:
            retenue = services.retenir_creneau(patient=request.user, creneau=creneau)
        except CreneauIndisponible as exc:
            exc.details = {"creneau": CreneauSerializer(exc.creneau).data}
            raise
        return Response(RetenueSerializer(retenue).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses={204: None, **ERREURS_AUTH, 403: _erreur("role_interdit"),
                   404: _erreur("not_found : créneau inconnu ; retenue_introuvable : vous ne retenez pas ce "
                                "créneau"),
                   409: _erreur("retenue_expiree : le délai est dépassé (details.expire_at)")},
        description="Libère le créneau retenu (ou proposé depuis la liste d'attente) : il revient aux autres, "
                    "ou au suivant de la liste d'attente.",
    )
    def delete(self, request, id: int):
        _patient(request)
        creneau = get_object_or_404(Creneau, pk=id)
        services.liberer_retenue(patient=request.user, creneau=creneau)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ListeAttenteView(APIView):
    @extend_schema(responses={200: InscriptionSerializer(many=True), **ERREURS_AUTH, 403: _erreur("role_interdit")},
                   description="Les inscriptions actives du patient, avec le créneau proposé en ce moment.")
    def get(self, request):
        _patient(request)
        qs = (InscriptionAttente.objects.filter(patient=request.user, active=True).select_related("motif_consultation")
              .prefetch_related(offres_vivantes()))
        return Response(InscriptionSerializer(qs, many=True).data)

    @extend_schema(
        request=InscriptionCreateSerializer,
        responses={201: InscriptionSerializer, **ERREURS_AUTH,
                   400: _erreur("validation_error ; periode_invalide : fin avant début ; periode_passee ; "
                                "motif_inconnu"),
                   403: _erreur("role_interdit"), 404: _erreur("not_found : médecin inconnu"),
                   409: _erreur("deja_en_attente : déjà inscrit chez ce médecin sur des dates qui se "
                                "chevauchent (details.liste_attente)")},
        description="S'inscrire en liste d'attente chez un médecin, du `date_from` au `date_to` (jours du "
                    "cabinet), pour un motif éventuel. Un créneau libéré ou publié qui convient est proposé au "
                    "premier inscrit : `creneau:offered`, un e-mail (et un SMS), et le créneau lui est réservé "
                    "pendant `OFFRE_SECONDES` (900 s par défaut), puis proposé au suivant.",
    )
    def post(self, request):
        _patient(request)
        data = valid(InscriptionCreateSerializer, request.data)
        medecin = Medecin.objects.select_related("cabinet").filter(pk=data["medecin"], user__is_active=True).first()
        if medecin is None:
            raise Introuvable("Médecin introuvable")
        motif = None
        if data.get("motif") is not None:
            motif = Motif.objects.filter(pk=data["motif"]).first()
            if motif is None:
                raise DomainError("Motif de consultation inconnu pour ce médecin", code="motif_inconnu",
                                  details={"motif": data["motif"]})
        inscription = services.inscrire(patient=request.user, medecin=medecin, date_debut=data["date_from"],
                                        date_fin=data["date_to"], motif_consultation=motif)
        return Response(InscriptionSerializer(inscription).data, status=status.HTTP_201_CREATED)


class InscriptionView(APIView):
    @extend_schema(request=None, responses={204: None, **ERREURS_AUTH, 403: _erreur("role_interdit"),
                                            404: _erreur("not_found : inscription inconnue (ou d'un autre)")},
                   description="Quitter la liste d'attente ; un créneau proposé passe au suivant.")
    def delete(self, request, id: int):
        _patient(request)
        inscription = InscriptionAttente.objects.filter(pk=id, patient=request.user, active=True).first()
        if inscription is None:
            raise Introuvable("Inscription introuvable")
        services.desinscrire(patient=request.user, inscription=inscription)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("creneaux/<id:id>/hold/", RetenueView.as_view(), name="creneau-hold"),
    path("liste-attente/", ListeAttenteView.as_view(), name="liste-attente"),
    path("liste-attente/<id:id>/", InscriptionView.as_view(), name="liste-attente-detail"),
]
