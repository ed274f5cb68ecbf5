"""REST views of the preferences, the unsubscribe link and the calendars: thin, over
``outbox.services`` and ``rendezvous.calendrier``.

- ``GET/PATCH /api/me/preferences/``: e-mail and SMS per kind.
- ``GET /api/preferences/desabonnement/?token=``: no login; the signed token says who and
  which kind; answers a small French page.
- ``GET /api/rendezvous/{id}/ics/``: one booking (whoever may see it).
- ``GET/POST/DELETE /api/me/calendrier/``: the secret subscription URL (POST makes or
  rotates it, DELETE revokes it), served at ``GET /calendrier/<jeton>.ics`` without login.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.urls import path
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import journal
from medical_booking import routing  # noqa: F401  (registers the ``id`` path converter)
from medical_booking.api import valid
from medical_booking.errors import DomainError, Introuvable
from rendezvous import calendrier, selectors
from rendezvous.api_agenda import ErreurSerializer
from rendezvous.models import Role, User

from . import services
from .contenu import SALT_DESABONNEMENT, base_url
from .models import Genre, JetonCalendrier, Preferences


def _erreur(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErreurSerializer, description=description)


AUTH_ERRORS = {401: _erreur("not_authenticated, token_not_valid")}


class StrictBooleanField(serializers.BooleanField):
    """true or false only (DRF's accepts "yes", 1, "on"...)."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class CanauxSerializer(serializers.Serializer):
    email = StrictBooleanField(required=False)
    sms = StrictBooleanField(required=False)


class StrictSerializer(serializers.Serializer):
    """Unknown fields are a 400 (a typo must not look like a saved choice)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Champ inconnu."] for name in unknown})
        return super().to_internal_value(data)


class StrictCanauxSerializer(StrictSerializer, CanauxSerializer):
    pass


class PreferencesSerializer(StrictSerializer):
    confirmation = StrictCanauxSerializer(required=False)
    modification = StrictCanauxSerializer(required=False)
    annulation = StrictCanauxSerializer(required=False)
    rappel = StrictCanauxSerializer(required=False)
    sms_possible = serializers.BooleanField(read_only=True, help_text="Un numéro de mobile est renseigné.")


def _preferences_data(user: User, prefs: Preferences) -> dict:
    from rendezvous.telephone import mobile

    data = {g.value: {"email": getattr(prefs, f"email_{g.value}"), "sms": getattr(prefs, f"sms_{g.value}")}
            for g in Genre}
    data["sms_possible"] = mobile(user.telephone) is not None
    return data


class PreferencesView(APIView):
    """Channels per kind of message (in-app notifications always go). SMS need a mobile
    number on the account (``PATCH /api/me/`` ``telephone``)."""

    @extend_schema(responses={200: PreferencesSerializer, **AUTH_ERRORS})
    def get(self, request):
        return Response(_preferences_data(request.user, services.preferences_de(request.user)))

    @extend_schema(request=PreferencesSerializer,
                   responses={200: PreferencesSerializer, **AUTH_ERRORS,
                              400: _erreur("validation_error (champ inconnu, valeur non booléenne)")})
    def patch(self, request):
        data = valid(PreferencesSerializer, request.data)
        changes = {f"{canal}_{genre}": value for genre, canaux in data.items() for canal, value in canaux.items()}
        prefs = services.modifier_preferences(request.user, changes)
        return Response(_preferences_data(request.user, prefs))


GENRE_LIBELLES = {Genre.CONFIRMATION: "confirmation", Genre.MODIFICATION: "modification",
                  Genre.ANNULATION: "annulation", Genre.RAPPEL: "rappel"}


class DesabonnementView(APIView):
    """The link at the bottom of each e-mail: that kind's e-mails off, without logging in."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, OpenApiParameter.QUERY, required=True)],
        responses={(200, "text/html"): OpenApiTypes.STR,
                   400: _erreur("jeton_invalide (absent, altéré), jeton_expire")},
        auth=[],
    )
    def get(self, request):
        token = request.query_params.get("token", "")
        try:
            payload = signing.loads(token, salt=SALT_DESABONNEMENT,
                                    max_age=settings.DESABONNEMENT_MAX_AGE_DAYS * 86400)
        except signing.SignatureExpired as exc:
            raise DomainError("Ce lien de désabonnement a expiré : changez vos préférences dans l'application",
                              code="jeton_expire") from exc
        except signing.BadSignature as exc:
            raise DomainError("Lien de désabonnement invalide", code="jeton_invalide") from exc
        genre = payload.get("g") if isinstance(payload, dict) else None
        user = User.objects.filter(pk=payload.get("u") if isinstance(payload, dict) else None).first()
        if user is None or genre not in Genre.values:
            raise DomainError("Lien de désabonnement invalide", code="jeton_invalide")
        services.desabonner(user, genre)
        html = render_to_string("outbox/desabonnement.html",
                                {"genre": GENRE_LIBELLES[genre], "public_url": base_url(request)})
        return HttpResponse(html, content_type="text/html; charset=utf-8")


def _ics_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=calendrier.CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


class ICalendarRenderer(BaseRenderer):
    """Lets a client ask for ``Accept: text/calendar`` (the view returns the bytes itself)."""

    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class RendezVousIcsView(APIView):
    """One booking as an ``.ics`` file (METHOD:REQUEST, or CANCEL once cancelled)."""

    renderer_classes = [JSONRenderer, ICalendarRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors are JSON whatever the client accepts (as everywhere in the API).
        if isinstance(response, Response):
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        operation_id="rendezvous_ics",
        responses={(200, "text/calendar"): OpenApiTypes.BINARY, **AUTH_ERRORS,
                   404: _erreur("not_found : rendez-vous inconnu ou d'un autre patient / cabinet")},
    )
    def get(self, request, id: int):  # noqa: A002  ({id} in the URL, like the router's routes)
        rdv = selectors.rendezvous_visibles(request.user).select_related("motif_consultation").filter(
            pk=id).first()
        if rdv is None:
            raise Introuvable("Rendez-vous introuvable")
        journal.lecture_rendezvous(request.user, [rdv], detail=True)
        body = calendrier.calendrier([rdv], method=calendrier.method_for(rdv), pour=request.user)
        return _ics_response(body, f"rendezvous-{rdv.pk}.ics")


class CalendrierSerializer(serializers.Serializer):
    url = serializers.URLField(allow_null=True, help_text="L'URL d'abonnement secrète (null : aucune)")


def _url(request, jeton: JetonCalendrier | None) -> str | None:
    return f"{base_url(request)}/calendrier/{jeton.jeton}.ics" if jeton else None


def _peut_s_abonner(user: User) -> None:
    if user.role not in (Role.PATIENT, Role.MEDECIN):
        raise DomainError("Seuls les patients et les médecins ont un calendrier", code="role_interdit")


class CalendrierView(APIView):
    """The secret URL of the user's calendar (a patient's bookings, a doctor's agenda),
    for a calendar application to subscribe to. Whoever holds it reads the calendar:
    POST replaces it (the old URL answers 404), DELETE revokes it."""

    @extend_schema(responses={200: CalendrierSerializer, **AUTH_ERRORS})
    def get(self, request):
        return Response({"url": _url(request, JetonCalendrier.objects.filter(user=request.user).first())})

    @extend_schema(request=None, responses={201: CalendrierSerializer, **AUTH_ERRORS,
                                            400: _erreur("role_interdit : ni patient ni médecin")})
    def post(self, request):
        _peut_s_abonner(request.user)
        with transaction.atomic():
            jeton, _ = JetonCalendrier.objects.update_or_create(
                user=request.user, defaults={"jeton": secrets.token_urlsafe(32)})
        return Response({"url": _url(request, jeton)}, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None, **AUTH_ERRORS})
    def delete(self, request):
        JetonCalendrier.objects.filter(user=request.user).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


@require_GET
def calendrier_abonnement(request, jeton: str):
    """``/calendrier/<jeton>.ics``: no login (calendar applications send no header); an
    unknown, rotated or revoked token is a 404 (JSON, like every error)."""
    found = JetonCalendrier.objects.select_related("user").filter(jeton=jeton).first()
    if found is None or not found.user.is_active:
        raise Http404
    user = found.user
    rdvs = list(calendrier.feed_queryset(user))
    journal.lecture_rendezvous(user, rdvs)
    nom = ("Agenda — Dr " + user.get_full_name()) if user.role == Role.MEDECIN else "Mes rendez-vous médicaux"
    return _ics_response(calendrier.calendrier(rdvs, method=calendrier.PUBLISH, pour=user, nom=nom),
                         "calendrier.ics")


# Included in medical_booking/urls.py (under /api/), before the router.
urlpatterns = [
    path("me/preferences/", PreferencesView.as_view(), name="me-preferences"),
    path("me/calendrier/", CalendrierView.as_view(), name="me-calendrier"),
    path("preferences/desabonnement/", DesabonnementView.as_view(), name="desabonnement"),
    path("rendezvous/<id:id>/ics/", RendezVousIcsView.as_view(), name="rendezvous-ics"),
]
