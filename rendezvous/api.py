"""REST views for accounts, practices, doctors, slots and bookings: thin, over services."""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.views import TokenObtainPairView

from audit import journal
from medical_booking.api import valid
from medical_booking.errors import CreneauIndisponible, DomainError, Introuvable, PermissionRefusee
from medical_booking.fields import BoundedDateTimeFilter, IdFilter
from medical_booking.throttling import LoginEmailThrottle, LoginIPThrottle, RegisterThrottle
from realtime.auth import SessionRefreshToken, end_session

from . import api_comptes, comptes, patients, policies, regles, selectors, services
from .api_agenda import _erreur
from .models import Cabinet, Creneau, Medecin, Motif, RendezVous, Role
from .serializers import (
    AnnulationSerializer,
    CabinetSerializer,
    CreneauCreateSerializer,
    CreneauSerializer,
    CreneauSerieSerializer,
    DeplacementSerializer,
    MedecinSerializer,
    MedecinUpdateSerializer,
    MeSerializer,
    RegisterSerializer,
    RendezVousCreateSerializer,
    RendezVousSerializer,
    rendezvous_data,
)


class LoginView(TokenObtainPairView):
    """E-mail and password: an access and a refresh token.

    Attempts are limited per client IP and per e-mail (429 with Retry-After).
    """

    # simplejwt's view; the throttles count in the shared cache (medical_booking/throttling.py).

    throttle_classes = [LoginIPThrottle, LoginEmailThrottle]


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [RegisterThrottle]

    @extend_schema(request=RegisterSerializer, responses={
        201: MeSerializer,
        202: _erreur("compte_a_activer : l'adresse est celle d'une fiche créée par un cabinet ; un e-mail y est "
                     "envoyé pour définir le mot de passe (personne n'est connecté)"),
        400: _erreur("validation_error"), 409: _erreur("email_exists"), 429: _erreur("throttled")})
    def post(self, request):
        data = valid(RegisterSerializer, request.data)
        # A record made on the phone is claimed through the e-mail, never by whoever signs up.
        record = comptes.compte_a_reclamer(data["email"])
        if record is not None:
            comptes.envoyer_lien(record, api_comptes.base_url(request))
            return Response({"code": "compte_a_activer",
                             "message": "Un e-mail vous a été envoyé pour activer votre compte"},
                            status=status.HTTP_202_ACCEPTED)
        user = services.register_patient(**data)
        return Response(MeSerializer(user).data, status=status.HTTP_201_CREATED)


class LogoutView(APIView):
    """End the session: the refresh token, the access token used for this call and every
    other token of their session are refused from now on; its sockets close."""

    @extend_schema(request={"application/json": {"type": "object", "properties": {"refresh": {"type": "string"}}}},
                   responses={205: None})
    def post(self, request):
        raw = request.data.get("refresh") if isinstance(request.data, dict) else None
        if not isinstance(raw, str) or not raw:
            raise DomainError("Le champ refresh est obligatoire", code="validation_error")
        try:
            refresh = SessionRefreshToken(raw)
            if str(refresh.get("user_id")) != str(request.user.pk):
                raise PermissionRefusee("Ce token appartient à un autre utilisateur")
            end_session(request.user, refresh, request.auth)
        except TokenError as exc:
            raise DomainError("Token invalide ou expiré", code="token_not_valid") from exc
        return Response(status=status.HTTP_205_RESET_CONTENT)


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeSerializer, responses=MeSerializer)
    def patch(self, request):
        serializer = MeSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)


class CabinetViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CabinetSerializer
    queryset = Cabinet.objects.all()
    filterset_fields = {"ville": ["exact", "iexact"]}


class MedecinFilter(django_filters.FilterSet):
    specialite = django_filters.CharFilter(lookup_expr="iexact")
    ville = django_filters.CharFilter(field_name="cabinet__ville", lookup_expr="iexact")
    cabinet = IdFilter(field_name="cabinet_id")
    q = django_filters.CharFilter(method="search")

    class Meta:
        model = Medecin
        fields = ["specialite", "ville", "cabinet"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(user__last_name__icontains=value) | Q(user__first_name__icontains=value)
            | Q(specialite__icontains=value)
        )


@extend_schema_view(retrieve=extend_schema(parameters=[
    OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Id du médecin (son user id)"),
]))
class MedecinViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = MedecinSerializer
    filterset_class = MedecinFilter

    def get_queryset(self):
        return selectors.medecins()

    @extend_schema(
        request=MedecinUpdateSerializer,
        responses={200: MedecinSerializer, 400: _erreur("validation_error"),
                   403: _erreur("permission_denied : ni le médecin, ni un administrateur de son cabinet"),
                   404: _erreur("not_found : médecin inconnu")},
        description="`nouveaux_patients_en_ligne` : un patient qui n'a jamais consulté ce médecin peut-il "
                    "prendre rendez-vous en ligne (le médecin, les administrateurs de son cabinet).",
    )
    def partial_update(self, request, pk=None):
        medecin = self.get_object()
        data = valid(MedecinUpdateSerializer, request.data)
        medecin = regles.modifier_nouveaux_patients(
            acteur=request.user, medecin=medecin, accepte=data["nouveaux_patients_en_ligne"])
        return Response(MedecinSerializer(medecin).data)


class CreneauFilter(django_filters.FilterSet):
    medecin = IdFilter(field_name="medecin_id")
    cabinet = IdFilter(field_name="medecin__cabinet_id")
    date_from = BoundedDateTimeFilter(field_name="debut", lookup_expr="gte")
    date_to = BoundedDateTimeFilter(field_name="debut", lookup_expr="lt")
    disponible = django_filters.BooleanFilter(method="filter_disponible")

    class Meta:
        model = Creneau
        fields = ["medecin", "cabinet", "date_from", "date_to", "disponible"]

    def filter_disponible(self, queryset, name, value):
        if value:
            return queryset.filter(reserve=False, debut__gt=timezone.now())
        return queryset.exclude(reserve=False, debut__gt=timezone.now())


class CreneauViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     mixins.DestroyModelMixin, viewsets.GenericViewSet):
    serializer_class = CreneauSerializer
    filterset_class = CreneauFilter

    def get_queryset(self):
        return selectors.creneaux()

    @extend_schema(request=CreneauCreateSerializer, responses={201: CreneauSerializer})
    def create(self, request):
        data = valid(CreneauCreateSerializer, request.data)
        medecin = self._medecin_for(request.user, data.get("medecin"))
        creneau = services.publish_creneau(
            acteur=request.user, medecin=medecin, debut=data["debut"], fin=data["fin"]
        )
        return Response(CreneauSerializer(creneau).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CreneauSerieSerializer, responses={201: CreneauSerializer(many=True)})
    @action(detail=False, methods=["post"])
    def serie(self, request):
        """Publish back-to-back slots over a period, in one transaction."""
        data = valid(CreneauSerieSerializer, request.data)
        medecin = self._medecin_for(request.user, data.get("medecin"))
        created = services.publish_serie(
            acteur=request.user, medecin=medecin, debut=data["debut"], fin=data["fin"],
            duree=timedelta(minutes=data["duree_minutes"]),
        )
        return Response({"count": len(created)}, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        creneau = self.get_object()
        services.withdraw_creneau(acteur=request.user, creneau=creneau)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _medecin_for(user, medecin_id) -> Medecin:
        if medecin_id is None:
            if user.role != Role.MEDECIN:
                raise DomainError("Le champ medecin est obligatoire", code="validation_error",
                                  details={"medecin": ["Ce champ est obligatoire."]})
            medecin_id = user.pk
        medecin = Medecin.objects.select_related("cabinet").filter(pk=medecin_id).first()
        if medecin is None:
            raise Introuvable("Médecin introuvable")
        return medecin


class RendezVousFilter(django_filters.FilterSet):
    statut = django_filters.CharFilter()
    medecin = IdFilter(field_name="creneau__medecin_id")
    creneau__medecin = IdFilter(field_name="creneau__medecin_id", label="Alias de medecin")
    cabinet = IdFilter(field_name="creneau__medecin__cabinet_id")
    patient = IdFilter(field_name="patient_id")
    date = django_filters.DateFilter(field_name="creneau__debut", lookup_expr="date",
                                     label="Jour du créneau (AAAA-MM-JJ, fuseau du serveur)")
    date_from = BoundedDateTimeFilter(field_name="creneau__debut", lookup_expr="gte")
    date_to = BoundedDateTimeFilter(field_name="creneau__debut", lookup_expr="lt")


class RendezVousViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin,
                        viewsets.GenericViewSet):
    serializer_class = RendezVousSerializer
    filterset_class = RendezVousFilter
    permission_classes = [IsAuthenticated]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return RendezVous.objects.none()
        return selectors.rendezvous_visibles(self.request.user)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        journal.lecture_rendezvous(request.user, page)  # the access log: others' bookings shown
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        rdv = self.get_object()
        journal.lecture_rendezvous(request.user, [rdv], detail=True)
        return Response(self.get_serializer(rdv).data)

    @extend_schema(
        request=RendezVousCreateSerializer,
        responses={
            201: RendezVousSerializer,
            400: _erreur("validation_error, creneau_passe, motif_requis, motif_inconnu"),
            403: _erreur("role_interdit, permission_denied (un patient pour un autre, le créneau d'un autre "
                         "cabinet), nouveaux_patients_refuses"),
            404: _erreur("not_found (créneau), patient_inconnu"),
            409: _erreur("creneau_indisponible (details.creneau : le créneau), preavis_insuffisant, "
                         "limite_atteinte, creneau_trop_court"),
        },
        description="Un patient réserve pour lui-même (EN_ATTENTE, soumis aux règles du cabinet) ; le "
                    "cabinet (administrateur, médecins du cabinet) réserve pour un patient avec `patient` : "
                    "confirmé aussitôt, seule la durée du motif s'applique.",
    )
    def create(self, request):
        data = valid(RendezVousCreateSerializer, request.data)
        # A withdrawn slot is a 409 carrying the slot (it was offered, it is gone), not a 404.
        # No availability annotation: booking decides it (and sets it on the slot).
        creneau = get_object_or_404(
            Creneau.objects.select_related("medecin__cabinet", "medecin__user"), pk=data["creneau"]
        )
        patient, acteur = self._patient_for(request.user, data.get("patient"), creneau)
        motif = None
        if data.get("motif_consultation") is not None:
            motif = Motif.objects.filter(pk=data["motif_consultation"]).first()
            if motif is None:
                raise DomainError("Motif de consultation inconnu pour ce médecin", code="motif_inconnu",
                                  details={"motif_consultation": data["motif_consultation"]})
        try:
            rdv = services.book_creneau(patient=patient, creneau=creneau, motif=data["motif"],
                                        motif_consultation=motif, acteur=acteur)
        except CreneauIndisponible as exc:
            # A lost race or a withdrawn slot: the 409 carries the slot as the API shows it.
            exc.details = {"creneau": CreneauSerializer(exc.creneau).data}
            raise
        return Response(rendezvous_data(rdv), status=status.HTTP_201_CREATED)

    @staticmethod
    def _patient_for(user, patient_id, creneau) -> tuple:
        """Who the booking is for, and who makes it."""
        if patient_id is None or user.role == Role.PATIENT:
            if patient_id is not None and patient_id != user.pk:
                raise PermissionRefusee("Un patient ne prend rendez-vous que pour lui-même")
            return user, user
        if not policies.can_book_for_patient(user, creneau.medecin):
            raise PermissionRefusee("Vous ne prenez rendez-vous que dans votre cabinet")
        return patients.patient_pour_reservation(user, patient_id), user

    @extend_schema(request=None, responses=RendezVousSerializer)
    @action(detail=True, methods=["post"])
    def confirm(self, request, pk=None):
        rdv = services.confirm_rendezvous(acteur=request.user, rdv=self.get_object())
        return Response(rendezvous_data(rdv))

    @extend_schema(
        request=DeplacementSerializer,
        responses={
            200: RendezVousSerializer,
            400: _erreur(
                "validation_error ; meme_creneau : déjà sur ce créneau ; creneau_autre_cabinet ; "
                "medecin_different : un patient reste chez le même médecin"),
            403: _erreur(
                "delai_depasse : trop tard pour qu'un patient déplace (details.limite)"),
            404: _erreur("not_found : rendez-vous ou créneau inconnu"),
            409: _erreur(
                "creneau_indisponible (details.creneau, comme une réservation perdue) ; "
                "rendezvous_annule ; creneau_passe ; preavis_insuffisant ; creneau_trop_court"),
        },
    )
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move the booking onto another slot of its practice, atomically: 200 on the new
        slot, or an error and nothing changed (the old slot is kept)."""
        data = valid(DeplacementSerializer, request.data)
        rdv = self.get_object()
        creneau = get_object_or_404(
            Creneau.objects.select_related("medecin__cabinet", "medecin__user"), pk=data["creneau"]
        )
        try:
            rdv = services.move_rendezvous(acteur=request.user, rdv=rdv, creneau=creneau)
        except CreneauIndisponible as exc:
            exc.details = {"creneau": CreneauSerializer(exc.creneau).data}
            raise
        return Response(rendezvous_data(rdv))

    @extend_schema(request=AnnulationSerializer, responses=RendezVousSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = valid(AnnulationSerializer, request.data)
        rdv = services.cancel_rendezvous(acteur=request.user, rdv=self.get_object(), motif=data["motif"])
        return Response(rendezvous_data(rdv))

