"""Who sees and does what in the Django admin: by role, never by Django's permission rows.

- Super admins (role SUPERADMIN or ``is_superuser``): everything the admin offers.
- A practice admin (ADMINCABINET): their practice only: lists filtered to it, another
  practice's object by its URL is a 404, and per model what ``portee_admincabinet``
  allows (view, add, change, delete).
- A doctor (MEDECIN): read-mostly: their own agenda (``portee_medecin``, usually view),
  plus the list actions that go through the services (confirm, cancel, withdraw...),
  which check the same policies as the REST API.
- Anyone else (patients; staff without ``is_staff``): not in the admin at all.

``is_staff`` is the switch "may log into the admin": ``seed_demo`` sets it for the demo
staff, and the admin's "add user" form sets it for a doctor or practice admin.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils import timezone

from audit.admin import est_super_admin
from medical_booking.errors import DomainError

from .models import STAFF_ROLES, Medecin, Role, User

SUPER = "SUPER"
VIEW, ADD, CHANGE, DELETE = "view", "add", "change", "delete"


def role_admin(request: HttpRequest) -> str | None:
    """SUPER, MEDECIN, ADMINCABINET, or None (no business in the admin)."""
    user = request.user
    if est_super_admin(request):
        return SUPER
    if user.is_active and user.is_staff and getattr(user, "role", None) in STAFF_ROLES and user.cabinet_id:
        return user.role
    return None


class PorteeCabinetAdmin:
    """Mixin (before ``admin.ModelAdmin``): the queryset and permissions by role.

    Subclasses implement ``portee(queryset, user)`` (the rows a practice's staff member
    may see) and list what each staff role may do.
    """

    portee_admincabinet: frozenset[str] = frozenset({VIEW})
    portee_medecin: frozenset[str] = frozenset({VIEW})

    def portee(self, queryset: QuerySet, user: User) -> QuerySet:
        raise NotImplementedError

    def _droits(self, request) -> frozenset[str] | None:
        role = role_admin(request)
        if role == SUPER:
            return None  # everything
        if role == Role.ADMINCABINET:
            return self.portee_admincabinet
        if role == Role.MEDECIN:
            return self.portee_medecin
        return frozenset()

    def est_super(self, request) -> bool:
        return role_admin(request) == SUPER

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        role = role_admin(request)
        if role == SUPER:
            return qs
        if role is None:
            return qs.none()
        return self.portee(qs, request.user)

    def _peut(self, request, droit: str, obj=None) -> bool:
        droits = self._droits(request)
        if droits is None:
            return True
        if droit not in droits:
            return False
        return obj is None or self.get_queryset(request).filter(pk=obj.pk).exists()

    def has_module_permission(self, request):
        return self._peut(request, VIEW)

    def has_view_permission(self, request, obj=None):
        return self._peut(request, VIEW, obj)

    def has_add_permission(self, request):
        return self._peut(request, ADD)

    def has_change_permission(self, request, obj=None):
        return self._peut(request, CHANGE, obj)

    def has_delete_permission(self, request, obj=None):
        return self._peut(request, DELETE, obj)

    # An object outside the user's practice, reached by its URL: 404, as if it did not
    # exist (Django's admin would redirect to the index saying so).
    def _dans_la_portee(self, request, object_id) -> None:
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404("Objet introuvable")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        self._dans_la_portee(request, object_id)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self._dans_la_portee(request, object_id)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self._dans_la_portee(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def get_list_filter(self, request):
        filters = list(super().get_list_filter(request))
        if not self.est_super(request):  # one practice: no practice filter
            filters = [f for f in filters if not (isinstance(f, str) and f.endswith("cabinet"))]
        return filters

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        """Choices of a form limited to the practice (a doctor of another practice is not
        a valid choice, even posted by hand)."""
        if db_field.related_model is Medecin and not self.est_super(request):
            user = request.user
            qs = Medecin.objects.select_related("user").filter(cabinet_id=user.cabinet_id)
            if user.role == Role.MEDECIN:
                qs = qs.filter(pk=user.pk)
            kwargs["queryset"] = qs
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class SuperAdminSeulement:
    """Mixin: a model only super admins see in the admin (messages, the event log)."""

    def has_module_permission(self, request):
        return est_super_admin(request)

    def has_view_permission(self, request, obj=None):
        return est_super_admin(request)

    def has_add_permission(self, request, *args):
        return est_super_admin(request)

    def has_change_permission(self, request, obj=None):
        return est_super_admin(request)

    def has_delete_permission(self, request, obj=None):
        return est_super_admin(request)


class JourFilter(admin.SimpleListFilter):
    """The day a secretary works on: today, tomorrow, the next 7 days, ahead, past."""

    title = "jour"
    parameter_name = "jour"
    champ = "debut"

    def lookups(self, request, model_admin):
        return [("aujourdhui", "Aujourd'hui"), ("demain", "Demain"), ("7jours", "7 prochains jours"),
                ("a_venir", "À venir"), ("passes", "Passés")]

    def queryset(self, request, queryset):
        cabinet = getattr(request.user, "cabinet", None)
        tz = cabinet.tzinfo if cabinet is not None else timezone.get_current_timezone()
        now = timezone.now()
        today = timezone.localtime(now, tz).replace(hour=0, minute=0, second=0, microsecond=0)

        def day(n: int):
            # Midnight n days ahead, wall-clock (a DST day has 23 or 25 hours).
            return (today.replace(tzinfo=None) + timedelta(days=n)).replace(tzinfo=tz)

        ranges = {
            "aujourdhui": (day(0), day(1)), "demain": (day(1), day(2)), "7jours": (day(0), day(7)),
            "a_venir": (now, None), "passes": (None, now),
        }
        if self.value() not in ranges:
            return queryset
        debut, fin = ranges[self.value()]
        if debut is not None:
            queryset = queryset.filter(**{f"{self.champ}__gte": debut})
        if fin is not None:
            queryset = queryset.filter(**{f"{self.champ}__lt": fin})
        return queryset


class JourRendezVousFilter(JourFilter):
    title = "jour du rendez-vous"
    champ = "creneau__debut"


class MedecinFilter(admin.SimpleListFilter):
    """By doctor: the practice's doctors for its staff (all of them for super admins)."""

    title = "médecin"
    parameter_name = "medecin"
    champ = "medecin_id"

    def lookups(self, request, model_admin):
        qs = Medecin.objects.select_related("user").order_by("user__last_name", "user__first_name")
        role = role_admin(request)
        if role != SUPER:
            qs = qs.filter(cabinet_id=request.user.cabinet_id)
            if role == Role.MEDECIN:
                qs = qs.filter(pk=request.user.pk)
        return [(str(m.pk), f"Dr {m.user.get_full_name()}") for m in qs]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit() or len(value) > 19:
            return queryset.none()
        return queryset.filter(**{self.champ: int(value)})


class MedecinRendezVousFilter(MedecinFilter):
    champ = "creneau__medecin_id"


def du_cabinet(qs: QuerySet, user: User, champ_medecin: str) -> QuerySet:
    """Rows of the user's practice (a practice admin) or of their own agenda (a doctor);
    ``champ_medecin`` is the path from the row to its doctor."""
    if user.role == Role.MEDECIN:
        return qs.filter(**{f"{champ_medecin}_id": user.pk})
    return qs.filter(**{f"{champ_medecin}__cabinet_id": user.cabinet_id})


def par_service(modeladmin, request: HttpRequest, objets, appel, verbe: str) -> None:
    """A list action: a service on each selected object; a refusal is reported (its French
    message), the others go on."""
    done = 0
    for obj in objets:
        try:
            appel(obj)
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"{obj} : {exc.message}", messages.WARNING)
    modeladmin.message_user(request, f"{done} {verbe}.", messages.SUCCESS)
