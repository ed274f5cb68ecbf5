from django import forms
from django.contrib import admin, messages
from django.shortcuts import render

from medical_booking.errors import DomainError

from . import services
from .catalogue import TYPES
from .models import Event, EventRoom


class EventRoomInline(admin.TabularInline):
    model = EventRoom
    extra = 0
    readonly_fields = ["room"]
    can_delete = False


class BroadcastForm(forms.Form):
    message = forms.CharField(max_length=1000, widget=forms.Textarea)
    type = forms.ChoiceField(choices=[(t, t) for t in TYPES], initial="info")
    role = forms.CharField(required=False)
    cabinet = forms.IntegerField(required=False)
    user = forms.IntegerField(required=False)


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "type", "message", "notify", "to_everyone", "created_at"]
    list_filter = ["name", "type", "notify"]
    search_fields = ["message"]
    readonly_fields = ["name", "type", "message", "data", "notify", "to_everyone", "created_at"]
    inlines = [EventRoomInline]
    actions = ["rediffuser"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Diffuser à nouveau ce message (notification:general)")
    def rediffuser(self, request, queryset):
        """Broadcast a message again, to the target of the form (defaults: everyone)."""
        if "apply" in request.POST:
            form = BroadcastForm(request.POST)
            if form.is_valid():
                d = form.cleaned_data
                try:
                    services.broadcast(acteur=request.user, message=d["message"], type=d["type"],
                                       role=d["role"] or None, user_id=d["user"],
                                       cabinet_id=d["cabinet"])
                except DomainError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                    return None
                self.message_user(request, "Notification diffusée.", messages.SUCCESS)
                return None
        else:
            first = queryset.first()
            form = BroadcastForm(initial={"message": first.message if first else ""})
        return render(request, "admin/realtime/broadcast.html", {
            "form": form, "queryset": queryset, "title": "Diffuser une notification",
            "opts": self.model._meta,
        })
