from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework_simplejwt.views import TokenRefreshView

from attente import api as attente_api
from medical_booking import frontend
from medical_booking.routing import Router
from messagerie.api import ConversationViewSet
from operations.views import HealthzView, MetricsView, ReadyzView
from outbox import api as outbox_api
from realtime.api import NotificationViewSet
from rendezvous import api_agenda, api_cabinet, api_comptes
from rendezvous.api import (
    CabinetViewSet,
    CreneauViewSet,
    LoginView,
    LogoutView,
    MedecinViewSet,
    MeView,
    RegisterView,
    RendezVousViewSet,
)

router = Router()  # ids in URLs: whole numbers in BIGINT range, else a JSON 404
router.register("cabinets", CabinetViewSet, basename="cabinet")
router.register("medecins", MedecinViewSet, basename="medecin")
router.register("creneaux", CreneauViewSet, basename="creneau")
router.register("rendezvous", RendezVousViewSet, basename="rendezvous")
router.register("conversations", ConversationViewSet, basename="conversation")
router.register("notifications", NotificationViewSet, basename="notification")

api = [
    path("auth/token/", LoginView.as_view(), name="token"),
    path("auth/token/refresh/", TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", LogoutView.as_view(), name="logout"),
    path("auth/register/", RegisterView.as_view(), name="register"),
    path("me/", MeView.as_view(), name="me"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI with its script served apart and no inline style: CSP without 'unsafe-inline'.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api_docs.html"),
         name="docs"),
    path("", include(api_agenda.urlpatterns)),  # a doctor's weekly hours and absences
    path("", include(api_cabinet.urlpatterns)),  # patients, a practice's rules, visit reasons
    path("", include(api_comptes.urlpatterns)),  # password reset (and claiming a phone-made record)
    path("", include(outbox_api.urlpatterns)),  # preferences, unsubscribe, calendars
    path("", include(attente_api.urlpatterns)),  # slot holds, the waiting list
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    # Operations (operations/): liveness, readiness, Prometheus metrics.
    path("healthz", HealthzView.as_view(), name="healthz"),
    path("readyz", ReadyzView.as_view(), name="readyz"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("fhir/", include("publication.urls")),  # SMART Scheduling Links (publication/)
    path("", frontend.index, name="frontend"),
    path("login", frontend.index, name="frontend-login"),
    path("reinitialiser", frontend.index, name="frontend-reinitialiser"),  # the reset e-mail's link
    # A calendar subscription (no login: the secret token is the credential).
    re_path(r"^calendrier/(?P<jeton>[A-Za-z0-9_-]{20,64})\.ics$", outbox_api.calendrier_abonnement,
            name="calendrier-abonnement"),
]

handler400 = "medical_booking.api.handler400"
handler403 = "medical_booking.api.handler403"
handler404 = "medical_booking.api.handler404"
handler500 = "medical_booking.api.handler500"
