from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from audit import journal
from audit.admin import JournaliseAdmin, est_super_admin
from medical_booking.errors import DomainError
from rendezvous.admin_portee import SuperAdminSeulement
from rendezvous.models import Cabinet, Role, User

from . import services
from .catalogue import TYPES
from .models import Event, EventRoom


class EventRoomInline(admin.TabularInline):
    model = EventRoom
    extra = 0
    readonly_fields = ["room"]
    can_delete = False


class BroadcastForm(forms.Form):
    message = forms.CharField(max_length=1000, widget=forms.Textarea(attrs={"rows": 3}))
    type = forms.ChoiceField(choices=[(t, t) for t in TYPES], initial="info")
    role = forms.ChoiceField(choices=[("", "—")] + list(Role.choices), required=False)
    cabinet = forms.ModelChoiceField(Cabinet.objects.all(), required=False)
    user = forms.ModelChoiceField(User.objects.filter(is_active=True), required=False)


@admin.register(Event)
class EventAdmin(SuperAdminSeulement, JournaliseAdmin, admin.ModelAdmin):
    """The event log (notification centre and replay source), plus the broadcast form.

    Super admins only (a practice's staff broadcast from the app, to their practice).
    An event's page shows its data (a booking, a message): logged in the access log.
    """

    list_display = ["id", "name", "type", "message", "notify", "to_everyone", "created_at"]
    list_filter = ["name", "type", "notify"]
    search_fields = ["message"]
    readonly_fields = ["name", "type", "message", "data", "notify", "to_everyone", "created_at"]
    inlines = [EventRoomInline]
    change_list_template = "admin/realtime/event/change_list.html"
    journal_liste = False  # the list shows names and messages, no data
    journal_objet_type = journal.TypeObjet.NOTIFICATION

    def journal_patients(self, objs):
        return journal.par_patient((journal.patient_d_evenement(e.name, e.data), e.pk) for e in objs)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view(self.broadcast_view)
        return [path("broadcast/", view, name="realtime_event_broadcast")] + super().get_urls()

    def broadcast_view(self, request):
        """Send ``notification:general`` from the admin (same service as the REST API)."""
        if not est_super_admin(request):
            raise PermissionDenied
        form = BroadcastForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            d = form.cleaned_data
            try:
                services.broadcast(
                    acteur=request.user, message=d["message"], type=d["type"], role=d["role"] or None,
                    user_id=d["user"].pk if d["user"] else None,
                    cabinet_id=d["cabinet"].pk if d["cabinet"] else None,
                )
            except DomainError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, "Notification diffusée.", messages.SUCCESS)
                return redirect(reverse("admin:realtime_event_changelist"))
        context = {**self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
                   "title": "Diffuser une notification"}
        return TemplateResponse(request, "admin/realtime/broadcast.html", context)
