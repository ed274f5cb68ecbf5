"""Password reset, and with it the claim of a record made on the phone (``rendezvous.comptes``);
a logged-in user's password change and "log out everywhere"."""

from __future__ import annotations

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from medical_booking.api import valid
from medical_booking.throttling import PasswordChangeThrottle, PasswordResetEmailThrottle, PasswordResetIPThrottle
from realtime.auth import SessionRefreshToken, revoke_user

from . import comptes
from .api_agenda import ERREURS_AUTH, _erreur

ENVOYE = {"code": "lien_envoye",
          "message": "Si un compte existe avec cette adresse, un e-mail vous a été envoyé pour définir "
                     "votre mot de passe"}


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=128)
    password = serializers.CharField(max_length=128, write_only=True)


class CodeMessageSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


def base_url(request) -> str:
    """Where the web front is: FRONTEND_URL, else the host this request came to."""
    return settings.FRONTEND_URL or request.build_absolute_uri("/")


THROTTLED = {429: _erreur("throttled (details.retry_after)")}


class PasswordResetView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [PasswordResetIPThrottle, PasswordResetEmailThrottle]

    @extend_schema(operation_id="auth_password_reset", request=PasswordResetSerializer,
                   responses={202: CodeMessageSerializer, 400: _erreur("validation_error"), **THROTTLED},
                   description="Envoie un lien de (ré)initialisation du mot de passe à l'adresse, si un compte "
                               "actif l'utilise ; la réponse est la même dans tous les cas.")
    def post(self, request):
        data = valid(PasswordResetSerializer, request.data)
        comptes.demander_reinitialisation(data["email"], base_url(request))
        return Response(ENVOYE, status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [PasswordResetIPThrottle]

    @extend_schema(operation_id="auth_password_reset_confirm", request=PasswordResetConfirmSerializer,
                   responses={200: CodeMessageSerializer,
                              400: _erreur("validation_error, lien_invalide, mot_de_passe_invalide "
                                           "(details.password : les messages des validateurs)"), **THROTTLED},
                   description="Définit le mot de passe avec le lien reçu : le même compte, son historique "
                               "conservé ; ses autres sessions sont fermées.")
    def post(self, request):
        data = valid(PasswordResetConfirmSerializer, request.data)
        comptes.reinitialiser(**data)
        return Response({"code": "mot_de_passe_modifie",
                         "message": "Votre mot de passe a été modifié : vous pouvez vous connecter"})


class PasswordChangeSerializer(serializers.Serializer):
    # Never trimmed: a password is compared and stored exactly as typed.
    current_password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)
    new_password = serializers.CharField(max_length=128, write_only=True, trim_whitespace=False)


class PasswordChangedSerializer(CodeMessageSerializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class PasswordChangeView(APIView):
    throttle_classes = [PasswordChangeThrottle]

    @extend_schema(operation_id="me_password_change", request=PasswordChangeSerializer,
                   responses={200: PasswordChangedSerializer,
                              400: _erreur("validation_error ; mot_de_passe_incorrect (details.current_password) ; "
                                           "mot_de_passe_invalide (details.new_password : les messages des "
                                           "validateurs, ou identique à l'actuel)"),
                              **ERREURS_AUTH,
                              429: _erreur("throttled (details.retry_after) : trop d'essais pour ce compte")},
                   description="Change son mot de passe en donnant l'actuel. Toutes les sessions du compte sont "
                               "fermées (tokens refusés, sockets fermés sur chaque serveur), y compris celle de "
                               "cet appel : la réponse porte une nouvelle paire de tokens pour cet appareil.")
    def post(self, request):
        data = valid(PasswordChangeSerializer, request.data)
        user = comptes.changer_mot_de_passe(request.user, actuel=data["current_password"],
                                            nouveau=data["new_password"])
        # Minted after the revocation committed: the new version, a new session.
        refresh = SessionRefreshToken.for_user(user)
        return Response({"code": "mot_de_passe_modifie",
                         "message": "Votre mot de passe a été modifié ; vos autres appareils sont déconnectés",
                         "access": str(refresh.access_token), "refresh": str(refresh)})


class LogoutAllView(APIView):
    @extend_schema(operation_id="auth_logout_all", request=None,
                   responses={200: CodeMessageSerializer, **ERREURS_AUTH},
                   description="Déconnecte tous les appareils du compte : chaque token émis jusqu'ici (refresh et "
                               "access, y compris celui de cet appel) est refusé, les sockets ouverts sont fermés "
                               "sur chaque serveur.")
    def post(self, request):
        revoke_user(request.user.pk)
        return Response({"code": "sessions_fermees",
                         "message": "Vous êtes déconnecté de tous vos appareils"})


# Included in medical_booking/urls.py.
urlpatterns = [
    path("me/password/", PasswordChangeView.as_view(), name="me-password"),
    path("auth/logout-all/", LogoutAllView.as_view(), name="logout-all"),
    path("auth/password-reset/", PasswordResetView.as_view(), name="password-reset"),
    path("auth/password-reset/confirm/", PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
]
