"""Holds and the waiting list in the admin: read-only lists (filters by state, issue and
doctor; search by patient), with one action each through the services ("Libérer" a live
hold, "Retirer de la liste d'attente" an entry: its offer goes to the next in line).
Super admins see every row; a practice admin their practice's doctors' rows; a doctor
their own agenda's, view only (``admin_portee``). Rows name a patient: list and detail
pages are written to the access log."""

from django.contrib import admin

from audit import journal
from audit.admin import JournaliseAdmin, LectureSeule
from rendezvous.admin_portee import (
    SUPER,
    VIEW,
    MedecinFilter,
    MedecinRendezVousFilter,
    PorteeCabinetAdmin,
    du_cabinet,
    par_service,
    role_admin,
)
from rendezvous.models import Role

from . import services
from .models import InscriptionAttente, Retenue
from .retenues import vivante


class _LectureSeule(LectureSeule, PorteeCabinetAdmin, JournaliseAdmin, admin.ModelAdmin):
    portee_admincabinet = frozenset({VIEW})
    portee_medecin = frozenset({VIEW})
    journal_objet_type = journal.TypeObjet.PATIENT

    def journal_patients(self, objs):
        return journal.par_patient((o.patient_id, o.pk) for o in objs)

    def has_agir_permission(self, request):
        return role_admin(request) in (SUPER, Role.ADMINCABINET)


class EnVigueurFilter(admin.SimpleListFilter):
    """Active and ahead of its time (what binds the slot now), or not."""

    title = "en vigueur"
    parameter_name = "vivante"

    def lookups(self, request, model_admin):
        return [("1", "Oui (active, non échue)"), ("0", "Non")]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(vivante())
        if self.value() == "0":
            return queryset.exclude(vivante())
        return queryset


class OffreFilter(admin.SimpleListFilter):
    title = "origine"
    parameter_name = "origine"

    def lookups(self, request, model_admin):
        return [("reservation", "Retenu en réservant"), ("offre", "Proposé (liste d'attente)")]

    def queryset(self, request, queryset):
        if self.value() == "reservation":
            return queryset.filter(offre__isnull=True)
        if self.value() == "offre":
            return queryset.filter(offre__isnull=False)
        return queryset


@admin.action(description="Libérer les créneaux retenus sélectionnés", permissions=["agir"])
def liberer(modeladmin, request, queryset):
    vivantes = queryset.filter(vivante()).select_related("patient", "creneau")
    par_service(
        modeladmin,
        request,
        vivantes,
        lambda r: services.liberer_retenue(patient=r.patient, creneau=r.creneau),
        "retenue(s) libérée(s)",
    )


@admin.register(Retenue)
class RetenueAdmin(_LectureSeule):
    list_display = ["id", "creneau", "patient", "origine", "expire_at", "active", "issue", "created_at"]
    list_filter = [EnVigueurFilter, OffreFilter, "issue", "creneau__medecin__cabinet", MedecinRendezVousFilter]
    search_fields = ["patient__email", "patient__last_name", "patient__first_name"]
    list_select_related = ["creneau__medecin__user", "creneau__medecin__cabinet", "patient", "offre"]
    readonly_fields = [f.name for f in Retenue._meta.fields]
    date_hierarchy = "created_at"
    actions = [liberer]

    def portee(self, qs, user):
        return du_cabinet(qs, user, "creneau__medecin")

    @admin.display(description="origine", ordering="offre")
    def origine(self, obj: Retenue) -> str:
        return f"Liste d'attente (inscription n° {obj.offre_id})" if obj.offre_id else "Réservation en cours"


@admin.action(description="Retirer de la liste d'attente les inscriptions sélectionnées", permissions=["agir"])
def retirer(modeladmin, request, queryset):
    actives = queryset.filter(active=True).select_related("patient")
    par_service(
        modeladmin,
        request,
        actives,
        lambda i: services.desinscrire(patient=i.patient, inscription=i),
        "inscription(s) retirée(s)",
    )


@admin.register(InscriptionAttente)
class InscriptionAttenteAdmin(_LectureSeule):
    list_display = [
        "id",
        "patient",
        "medecin",
        "date_debut",
        "date_fin",
        "motif_consultation",
        "active",
        "servie_at",
        "created_at",
    ]
    list_filter = ["active", "medecin__cabinet", MedecinFilter]
    search_fields = ["patient__email", "patient__last_name", "patient__first_name"]
    list_select_related = ["patient", "medecin__user", "medecin__cabinet", "motif_consultation"]
    readonly_fields = [f.name for f in InscriptionAttente._meta.fields]
    date_hierarchy = "created_at"
    actions = [retirer]

    def portee(self, qs, user):
        return du_cabinet(qs, user, "medecin")
