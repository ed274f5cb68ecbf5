"""The Django admin of the agenda: super admins see everything; a practice's staff see
and act on their practice only (``admin_portee``); actions go through the services."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from audit import journal
from audit.admin import JournaliseAdmin, LectureSeule

from . import agenda, policies, services
from .admin_portee import (
    ADD,
    CHANGE,
    DELETE,
    SUPER,
    VIEW,
    JourFilter,
    JourRendezVousFilter,
    MedecinFilter,
    MedecinRendezVousFilter,
    PorteeCabinetAdmin,
    du_cabinet,
    par_service,
    role_admin,
)
from .models import (
    ACTIVE_STATUTS,
    STAFF_ROLES,
    Absence,
    Cabinet,
    Creneau,
    Horaire,
    Medecin,
    Motif,
    RendezVous,
    Role,
    User,
)

admin.site.site_header = "Rendez-vous médicaux — administration"
admin.site.site_title = "Administration des rendez-vous"
admin.site.index_title = "Administration"


def _local(value, cabinet: Cabinet) -> str:
    return f"{timezone.localtime(value, cabinet.tzinfo):%d/%m/%Y %H:%M}"


# --- users ---------------------------------------------------------------------------------


class UserCreationForm(forms.ModelForm):
    """The admin's "add user" form (email login, role, practice, password)."""

    password1 = forms.CharField(label="Mot de passe", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Confirmation du mot de passe", widget=forms.PasswordInput, strip=False)

    class Meta:
        model = User
        fields = ["email", "role", "cabinet"]

    def clean_password2(self):
        p1, p2 = self.cleaned_data.get("password1"), self.cleaned_data.get("password2")
        if p1 and p2 and p1 != p2:
            raise forms.ValidationError("Les deux mots de passe ne correspondent pas.")
        return p2

    def save(self, commit=True):
        user = super().save(commit=False)
        user.set_password(self.cleaned_data["password1"])
        # A doctor or a practice admin may use the admin (their practice only).
        user.is_staff = user.role in (*STAFF_ROLES, Role.SUPERADMIN)
        if commit:
            user.save()
        return user


@admin.register(User)
class UserAdmin(PorteeCabinetAdmin, BaseUserAdmin):
    """Staff see their practice's members and its patients (booked there, or created by
    it), read-only: accounts are managed by super admins and by patients themselves."""

    ordering = ["email"]
    list_display = ["email", "first_name", "last_name", "telephone", "role", "cabinet", "is_active"]
    list_filter = ["role", "cabinet", "is_active", "is_staff"]
    search_fields = ["email", "first_name", "last_name", "telephone"]
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Identité", {"fields": ("first_name", "last_name", "telephone")}),
        ("Rôle", {"fields": ("role", "cabinet", "cree_par_cabinet")}),
        ("Droits", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "role", "cabinet", "password1", "password2")}),
    )

    def portee(self, qs, user):
        if user.role == Role.MEDECIN:
            patients = RendezVous.objects.filter(creneau__medecin_id=user.pk).values("patient_id")
        else:
            patients = RendezVous.objects.filter(creneau__medecin__cabinet_id=user.cabinet_id).values("patient_id")
        return qs.filter(Q(cabinet_id=user.cabinet_id) | Q(pk__in=patients)
                         | Q(cree_par_cabinet_id=user.cabinet_id))

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not self.est_super(request):
            return (
                (None, {"fields": ("email",)}),
                ("Identité", {"fields": ("first_name", "last_name", "telephone")}),
                ("Rôle", {"fields": ("role", "cabinet", "cree_par_cabinet", "is_active")}),
            )
        return super().get_fieldsets(request, obj)


# --- practices and doctors -----------------------------------------------------------------


class MedecinInline(admin.TabularInline):
    model = Medecin
    extra = 0
    fields = ["user", "specialite", "rpps", "nouveaux_patients_en_ligne"]
    raw_id_fields = ["user"]

    def _super(self, request) -> bool:
        return role_admin(request) == SUPER

    def has_add_permission(self, request, obj=None):
        return self._super(request)

    def has_change_permission(self, request, obj=None):
        return self._super(request)

    def has_delete_permission(self, request, obj=None):
        return self._super(request)

    def has_view_permission(self, request, obj=None):
        return True  # the parent page decided


@admin.register(Cabinet)
class CabinetAdmin(PorteeCabinetAdmin, admin.ModelAdmin):
    list_display = ["nom", "ville", "code_postal", "telephone", "timezone"]
    list_filter = ["ville"]
    search_fields = ["nom", "ville"]
    inlines = [MedecinInline]
    # A practice admin edits their practice (address, rules, reminders); a doctor reads it.
    portee_admincabinet = frozenset({VIEW, CHANGE})

    def portee(self, qs, user):
        return qs.filter(pk=user.cabinet_id)


@admin.action(description="Générer les créneaux de leurs horaires (jusqu'à l'horizon)")
def generer(modeladmin, request, queryset):
    crees = 0
    for medecin in queryset.select_related("cabinet"):
        if not policies.can_manage_agenda(request.user, medecin):
            modeladmin.message_user(request, f"{medecin} : vous ne gérez pas cet agenda", messages.WARNING)
            continue
        crees += agenda.generer_creneaux(medecin).crees
    modeladmin.message_user(request, f"{crees} créneau(x) généré(s).", messages.SUCCESS)


@admin.register(Medecin)
class MedecinAdmin(PorteeCabinetAdmin, admin.ModelAdmin):
    list_display = ["__str__", "specialite", "cabinet", "nouveaux_patients_en_ligne"]
    list_filter = ["specialite", "nouveaux_patients_en_ligne", "cabinet"]
    search_fields = ["user__last_name", "user__first_name", "user__email", "specialite"]
    raw_id_fields = ["user"]
    list_select_related = ["user", "cabinet"]
    actions = [generer]
    portee_admincabinet = frozenset({VIEW, CHANGE})

    def portee(self, qs, user):
        return qs.filter(cabinet_id=user.cabinet_id)

    def get_readonly_fields(self, request, obj=None):
        return [] if self.est_super(request) else ["user", "cabinet"]


# --- slots, hours, absences, reasons -------------------------------------------------------


class DisponibiliteFilter(admin.SimpleListFilter):
    title = "disponibilité"
    parameter_name = "disponibilite"

    def lookups(self, request, model_admin):
        return [("libre", "Libre"), ("reserve", "Réservé")]

    def queryset(self, request, queryset):
        reserve = Exists(RendezVous.objects.filter(creneau=OuterRef("pk"), statut__in=ACTIVE_STATUTS))
        if self.value() == "libre":
            return queryset.filter(~reserve)
        if self.value() == "reserve":
            return queryset.filter(reserve)
        return queryset


@admin.action(description="Retirer les créneaux libres sélectionnés")
def retirer(modeladmin, request, queryset):
    par_service(modeladmin, request, queryset.select_related("medecin__cabinet"),
              lambda c: services.withdraw_creneau(acteur=request.user, creneau=c), "créneau(x) retiré(s)")


@admin.register(Creneau)
class CreneauAdmin(PorteeCabinetAdmin, admin.ModelAdmin):
    list_display = ["id", "medecin", "debut_local", "fin_local", "actif", "genere"]
    list_filter = [JourFilter, MedecinFilter, "actif", "genere",
                   DisponibiliteFilter, "medecin__cabinet"]
    date_hierarchy = "debut"
    search_fields = ["medecin__user__last_name"]
    list_select_related = ["medecin__user", "medecin__cabinet"]
    actions = [retirer]

    def portee(self, qs, user):
        return du_cabinet(qs, user, "medecin")

    @admin.display(description="début", ordering="debut")
    def debut_local(self, obj):
        return _local(obj.debut, obj.medecin.cabinet)

    @admin.display(description="fin", ordering="fin")
    def fin_local(self, obj):
        return _local(obj.fin, obj.medecin.cabinet)


@admin.register(Horaire)
class HoraireAdmin(LectureSeule, PorteeCabinetAdmin, admin.ModelAdmin):
    """Read-only here for everyone: the week is replaced as a whole through the agenda
    screen (``PUT /api/medecins/{id}/horaires/``), which also regenerates the slots."""

    list_display = ["medecin", "jour", "debut", "fin", "duree_minutes"]
    list_filter = [MedecinFilter, "jour", "medecin__cabinet"]
    list_select_related = ["medecin__user"]

    def portee(self, qs, user):
        return du_cabinet(qs, user, "medecin")


class AbsenceForm(forms.ModelForm):
    class Meta:
        model = Absence
        fields = ["medecin", "debut", "fin", "motif"]

    def clean(self):
        data = super().clean()
        debut, fin = data.get("debut"), data.get("fin")
        if debut and fin:
            if fin <= debut:
                self.add_error("fin", "La fin doit être après le début.")
            elif fin <= timezone.now():
                self.add_error("fin", "Cette absence est déjà passée.")
            elif fin - debut > agenda.MAX_ABSENCE:
                self.add_error("fin", "Une absence dure au plus un an.")
        return data


@admin.action(description="Supprimer les absences sélectionnées (et régénérer leurs créneaux)")
def supprimer_absences(modeladmin, request, queryset):
    par_service(modeladmin, request, queryset.select_related("medecin__cabinet"),
              lambda a: agenda.supprimer_absence(acteur=request.user, absence=a), "absence(s) supprimée(s)")


@admin.register(Absence)
class AbsenceAdmin(PorteeCabinetAdmin, admin.ModelAdmin):
    """Declared and deleted through the services: a new absence withdraws the free slots
    it covers; deleting one ahead regenerates them. Not edited in place."""

    form = AbsenceForm
    list_display = ["medecin", "debut_local", "fin_local", "motif", "cree_par"]
    list_filter = [MedecinFilter, "medecin__cabinet"]
    list_select_related = ["medecin__user", "medecin__cabinet", "cree_par"]
    date_hierarchy = "debut"
    actions = [supprimer_absences]
    portee_admincabinet = frozenset({VIEW, ADD, DELETE})

    def portee(self, qs, user):
        return du_cabinet(qs, user, "medecin")

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deletions go through the service
        return actions

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.fin <= timezone.now():
            return False  # a past absence stays
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        done = agenda.declarer_absence(acteur=request.user, medecin=obj.medecin, debut=obj.debut,
                                       fin=obj.fin, motif=obj.motif)
        obj.pk, obj.cree_par, obj.created_at = done.absence.pk, request.user, done.absence.created_at
        obj._state.adding = False
        a_deplacer = ", ".join(f"{r.patient} ({r.patient.telephone or 'sans téléphone'}) le "
                               f"{_local(r.creneau.debut, r.creneau.medecin.cabinet)}" for r in done.a_deplacer)
        self.message_user(request, f"{done.retires} créneau(x) libre(s) retiré(s)."
                          + (f" Rendez-vous à déplacer : {a_deplacer}." if a_deplacer else ""),
                          messages.WARNING if a_deplacer else messages.SUCCESS)
        if done.a_deplacer:
            journal.lecture_rendezvous(request.user, done.a_deplacer)

    def delete_model(self, request, obj):
        agenda.supprimer_absence(acteur=request.user, absence=obj)

    @admin.display(description="début", ordering="debut")
    def debut_local(self, obj):
        return _local(obj.debut, obj.medecin.cabinet)

    @admin.display(description="fin", ordering="fin")
    def fin_local(self, obj):
        return _local(obj.fin, obj.medecin.cabinet)


@admin.register(Motif)
class MotifAdmin(PorteeCabinetAdmin, admin.ModelAdmin):
    """Visit reasons; untick « actif » to retire one (past bookings keep naming it)."""

    list_display = ["libelle", "medecin", "duree_minutes", "en_ligne", "nouveaux_patients", "actif"]
    list_filter = [MedecinFilter, "actif", "en_ligne", "medecin__cabinet"]
    list_select_related = ["medecin__user"]
    search_fields = ["libelle"]
    portee_admincabinet = frozenset({VIEW, ADD, CHANGE})

    def portee(self, qs, user):
        return du_cabinet(qs, user, "medecin")

    def has_delete_permission(self, request, obj=None):
        return self.est_super(request) and super().has_delete_permission(request, obj)


# --- bookings ------------------------------------------------------------------------------


@admin.action(description="Confirmer les rendez-vous sélectionnés")
def confirmer(modeladmin, request, queryset):
    par_service(modeladmin, request, queryset.select_related("creneau__medecin", "patient"),
              lambda r: services.confirm_rendezvous(acteur=request.user, rdv=r), "rendez-vous confirmé(s)")


@admin.action(description="Annuler les rendez-vous sélectionnés")
def annuler(modeladmin, request, queryset):
    par_service(modeladmin, request, queryset.select_related("creneau__medecin", "patient"),
              lambda r: services.cancel_rendezvous(acteur=request.user, rdv=r), "rendez-vous annulé(s)")


@admin.register(RendezVous)
class RendezVousAdmin(PorteeCabinetAdmin, JournaliseAdmin, admin.ModelAdmin):
    """A practice's staff see its bookings and confirm or cancel them (the services, the
    same events as the REST API); only super admins edit or delete a booking row."""

    list_display = ["id", "patient", "patient_email", "patient_telephone", "medecin_display", "debut", "statut",
                    "created_at"]
    list_filter = [JourRendezVousFilter, MedecinRendezVousFilter, "statut",
                   "creneau__medecin__cabinet"]
    search_fields = ["patient__email", "patient__last_name", "patient__telephone", "motif"]
    date_hierarchy = "creneau__debut"
    list_select_related = ["patient", "creneau__medecin__user", "creneau__medecin__cabinet"]
    raw_id_fields = ["patient", "creneau", "annule_par", "pris_par", "ancien_creneau"]
    readonly_fields = ["statut", "annule_par", "confirme_at", "annule_at", "created_at", "updated_at"]
    actions = [confirmer, annuler]
    journal_objet_type = journal.TypeObjet.RENDEZVOUS

    def portee(self, qs, user):
        return du_cabinet(qs, user, "creneau__medecin")

    def journal_patients(self, objs):
        return journal.par_patient((r.patient_id, r.pk) for r in objs)

    @admin.display(description="e-mail", ordering="patient__email")
    def patient_email(self, obj):
        return obj.patient.email

    @admin.display(description="téléphone", ordering="patient__telephone")
    def patient_telephone(self, obj):
        return obj.patient.telephone

    @admin.display(description="médecin", ordering="creneau__medecin")
    def medecin_display(self, obj):
        return obj.creneau.medecin

    @admin.display(description="début", ordering="creneau__debut")
    def debut(self, obj):
        return _local(obj.creneau.debut, obj.creneau.medecin.cabinet)
