"""The access log in the admin (super admins only, read-only for everyone), and the
mixin that logs staff's views and edits of bookings, messages and events in the admin."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from rendezvous.models import Role

from . import journal
from .models import Action, JournalAcces


def est_super_admin(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_staff
                and (user.is_superuser or getattr(user, "role", None) == Role.SUPERADMIN))


class LectureSeule:
    """First base of a ModelAdmin whose rows only services write (logs, outbox, holds):
    nobody adds, edits or deletes them in the admin; list actions go through services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JournalAcces)
class JournalAccesAdmin(LectureSeule, admin.ModelAdmin):
    """Who accessed patient X: ``?patient=X``; what user Y did: ``?acteur=Y`` (both indexed)."""

    list_display = ["horodatage", "acteur_lien", "acteur_role", "action", "objet_type", "objet_ids",
                    "patient_lien", "canal", "ip", "request_id"]
    list_filter = ["action", "objet_type", "canal", "acteur_role"]
    search_fields = ["acteur_email", "=request_id"]
    date_hierarchy = "horodatage"
    # COUNT(*) over a large log on every page is slow; the log only grows.
    show_full_result_count = False
    list_per_page = 100

    def has_module_permission(self, request):
        return est_super_admin(request)

    def has_view_permission(self, request, obj=None):
        return est_super_admin(request)

    def _filtre(self, field: str, value, label) -> str:
        url = reverse("admin:audit_journalacces_changelist")
        return format_html('<a href="{}?{}={}">{}</a>', url, field, value, label)

    @admin.display(description="acteur", ordering="acteur_email")
    def acteur_lien(self, obj: JournalAcces) -> str:
        return self._filtre("acteur", obj.acteur_id, obj.acteur_email) if obj.acteur_id else obj.acteur_email

    @admin.display(description="patient", ordering="patient_id")
    def patient_lien(self, obj: JournalAcces) -> str:
        return self._filtre("patient", obj.patient_id, f"#{obj.patient_id}") if obj.patient_id else "—"


def _contexte(response) -> dict:
    """The template context of an admin page (a TemplateResponse not rendered yet), or {}."""
    return getattr(response, "context_data", None) or {}


class JournaliseAdmin:
    """For the ModelAdmin of an object carrying a patient's data: the list page, the
    detail page, saves and deletions are written to the access log.

    Subclasses set ``journal_objet_type`` and implement ``journal_patients`` (objects →
    patient id → object ids). ``journal_liste = False`` for a list page that shows no
    patient data.
    """

    journal_objet_type: str
    journal_liste = True

    def journal_patients(self, objs: Iterable) -> dict[int, list[int]]:
        raise NotImplementedError

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = _contexte(response).get("cl")
        if self.journal_liste and cl is not None:
            journal.lectures(request.user, self.journal_objet_type, self.journal_patients(cl.result_list))
        return response

    # Pages that show one object: its form (a GET, or a form sent back with errors), its
    # history (object names), the deletion confirmation.
    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        self._lecture(request, _contexte(response).get("original"))
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        self._lecture(request, _contexte(response).get("object"))
        return response

    def delete_view(self, request, object_id, extra_context=None):
        response = super().delete_view(request, object_id, extra_context)
        self._lecture(request, _contexte(response).get("object"))
        return response

    def _lecture(self, request, obj) -> None:
        if obj is not None:
            journal.lectures(request.user, self.journal_objet_type, self.journal_patients([obj]), objet_id=obj.pk)

    def save_model(self, request, obj, form, change):
        """In the admin's transaction; both the old and the new patient when it changed."""
        patients = set(self.journal_patients([type(obj).objects.get(pk=obj.pk)])) if change else set()
        super().save_model(request, obj, form, change)
        patients |= set(self.journal_patients([obj]))
        journal.enregistrer(request.user, Action.MODIFICATION if change else Action.CREATION,
                            self.journal_objet_type, {p: [obj.pk] for p in patients}, objet_id=obj.pk)

    def delete_model(self, request, obj):
        self._journal_suppression(request, [obj])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            self._journal_suppression(request, list(queryset))
            super().delete_queryset(request, queryset)

    def _journal_suppression(self, request, objs: list) -> None:
        journal.enregistrer(request.user, Action.SUPPRESSION, self.journal_objet_type,
                            self.journal_patients(objs))
