"""The outbox in the admin: read-only, filtered by state, channel and type; failed rows
can be put back in the queue ("Renvoyer"). Super admins see every row; a practice admin
the rows about their practice's bookings; doctors nothing (``admin_portee``). A row
carries a patient's message: list and detail pages are written to the access log."""

from django.contrib import admin, messages

from audit import journal
from audit.admin import JournaliseAdmin, LectureSeule
from rendezvous.admin_portee import SUPER, VIEW, PorteeCabinetAdmin, role_admin
from rendezvous.models import Role

from . import services
from .models import Envoi, StatutEnvoi


@admin.action(description="Renvoyer les envois en échec sélectionnés", permissions=["renvoyer"])
def renvoyer(modeladmin, request, queryset):
    echecs = queryset.filter(statut=StatutEnvoi.ECHEC)
    count = services.renvoyer(list(echecs))
    ignored = queryset.count() - count
    modeladmin.message_user(request, f"{count} envoi(s) remis dans la file.", messages.SUCCESS)
    if ignored:
        modeladmin.message_user(request, f"{ignored} envoi(s) ignoré(s) : seuls les envois en échec se renvoient.",
                                messages.WARNING)


@admin.register(Envoi)
class EnvoiAdmin(LectureSeule, PorteeCabinetAdmin, JournaliseAdmin, admin.ModelAdmin):
    list_display = ["id", "created_at", "canal", "type", "destinataire", "statut", "tentatives",
                    "prochain_essai", "envoye_at", "erreur_courte"]
    list_filter = ["statut", "canal", "type"]
    search_fields = ["destinataire", "=cle"]
    list_select_related = ["user", "rendezvous"]
    readonly_fields = [f.name for f in Envoi._meta.fields]
    actions = [renvoyer]
    portee_admincabinet = frozenset({VIEW})
    portee_medecin = frozenset()
    journal_objet_type = journal.TypeObjet.NOTIFICATION

    def portee(self, qs, user):
        return qs.filter(rendezvous__creneau__medecin__cabinet_id=user.cabinet_id)

    def journal_patients(self, objs):
        return journal.par_patient(
            (e.rendezvous.patient_id if e.rendezvous_id else
             (e.user_id if e.user_id and e.user.role == Role.PATIENT else None), e.pk)
            for e in objs)

    def has_renvoyer_permission(self, request):
        return role_admin(request) in (SUPER, Role.ADMINCABINET)

    @admin.display(description="dernière erreur")
    def erreur_courte(self, obj):
        return (obj.derniere_erreur[:80] + "…") if len(obj.derniere_erreur) > 80 else obj.derniere_erreur
