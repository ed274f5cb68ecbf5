from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from audit import journal
from audit.admin import JournaliseAdmin
from medical_booking.errors import DomainError

from . import services
from .models import Cabinet, Creneau, Medecin, RendezVous, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "role", "cabinet", "is_active"]
    list_filter = ["role", "cabinet", "is_active", "is_staff"]
    search_fields = ["email", "first_name", "last_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Identité", {"fields": ("first_name", "last_name", "telephone")}),
        ("Rôle", {"fields": ("role", "cabinet")}),
        ("Droits", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "role", "cabinet", "password1", "password2")}),
    )


class MedecinInline(admin.TabularInline):
    model = Medecin
    extra = 0
    fields = ["user", "specialite", "rpps"]
    raw_id_fields = ["user"]


@admin.register(Cabinet)
class CabinetAdmin(admin.ModelAdmin):
    list_display = ["nom", "ville", "code_postal", "telephone", "timezone"]
    list_filter = ["ville"]
    search_fields = ["nom", "ville"]
    inlines = [MedecinInline]


@admin.register(Medecin)
class MedecinAdmin(admin.ModelAdmin):
    list_display = ["__str__", "specialite", "cabinet"]
    list_filter = ["specialite", "cabinet"]
    search_fields = ["user__last_name", "user__first_name", "user__email", "specialite"]
    raw_id_fields = ["user"]


@admin.register(Creneau)
class CreneauAdmin(admin.ModelAdmin):
    list_display = ["id", "medecin", "debut", "fin", "actif"]
    list_filter = ["actif", "medecin__cabinet", "medecin"]
    date_hierarchy = "debut"
    search_fields = ["medecin__user__last_name"]
    list_select_related = ["medecin__user", "medecin__cabinet"]


def _apply(modeladmin, request, queryset, action, verb: str) -> None:
    done = 0
    for rdv in queryset.select_related("creneau__medecin", "patient"):
        try:
            action(acteur=request.user, rdv=rdv)
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, f"RDV #{rdv.pk} : {exc.message}", messages.WARNING)
    modeladmin.message_user(request, f"{done} rendez-vous {verb}.", messages.SUCCESS)


@admin.action(description="Confirmer les rendez-vous sélectionnés")
def confirmer(modeladmin, request, queryset):
    _apply(modeladmin, request, queryset, services.confirm_rendezvous, "confirmé(s)")


@admin.action(description="Annuler les rendez-vous sélectionnés")
def annuler(modeladmin, request, queryset):
    _apply(modeladmin, request, queryset, services.cancel_rendezvous, "annulé(s)")


@admin.register(RendezVous)
class RendezVousAdmin(JournaliseAdmin, admin.ModelAdmin):
    list_display = ["id", "patient", "patient_email", "medecin_display", "debut", "statut", "created_at"]
    list_filter = ["statut", "creneau__medecin__cabinet", "creneau__medecin"]
    search_fields = ["patient__email", "patient__last_name", "motif"]
    date_hierarchy = "created_at"
    list_select_related = ["patient", "creneau__medecin__user"]
    raw_id_fields = ["patient", "creneau", "annule_par"]
    readonly_fields = ["statut", "annule_par", "confirme_at", "annule_at", "created_at", "updated_at"]
    actions = [confirmer, annuler]
    journal_objet_type = journal.TypeObjet.RENDEZVOUS

    def journal_patients(self, objs):
        return journal.par_patient((r.patient_id, r.pk) for r in objs)

    @admin.display(description="e-mail", ordering="patient__email")
    def patient_email(self, obj):
        return obj.patient.email

    @admin.display(description="médecin")
    def medecin_display(self, obj):
        return obj.creneau.medecin

    @admin.display(description="début", ordering="creneau__debut")
    def debut(self, obj):
        return obj.creneau.debut
