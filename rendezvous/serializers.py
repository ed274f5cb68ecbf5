"""One serializer per object, used by the REST API and by real-time payloads alike."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from attente.retenues import vivantes
from medical_booking.errors import DomainError
from medical_booking.fields import MAX_ID, BoundedDateTimeField

from .models import ACTIVE_STATUTS, Cabinet, Creneau, Medecin, Motif, RendezVous, User
from .regles import annulable_jusqu_a, regles_de
from .telephone import telephone_saisi


def local_iso(value, tzinfo) -> str:
    """ISO 8601 in the practice's zone, with its offset (stored UTC, shown local)."""
    return timezone.localtime(value, tzinfo).isoformat()


class UserPublicSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "first_name", "last_name", "role"]
        read_only_fields = fields


class TelephoneField(serializers.CharField):
    """A phone number, stored in E.164 (``+33612345678``); invalid: 400 ``telephone_invalide``."""

    def to_internal_value(self, data):
        return telephone_saisi(super().to_internal_value(data))


class MeSerializer(serializers.ModelSerializer):
    telephone = TelephoneField(max_length=30, required=False, allow_blank=True)
    # The zone a front shows this account's dates in (issue 14): its practice's, else the
    # server's (``TIME_ZONE``: a patient belongs to no practice). Slots carry their own.
    timezone = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "telephone", "role", "cabinet", "timezone"]
        read_only_fields = ["id", "email", "role", "cabinet", "timezone"]

    def get_timezone(self, obj: User) -> str:
        return obj.cabinet.timezone if obj.cabinet_id else settings.TIME_ZONE


# What ``PATCH /api/me/`` changes; any other field is refused (400 ``champ_non_modifiable``)
# rather than ignored: a client sending a new password must not be told 200 (issue 14).
ME_MODIFIABLES = ("first_name", "last_name", "telephone")
ME_REFUS = {
    "password": "Le mot de passe se change avec POST /api/me/password/ {current_password, new_password}.",
    "email": "L'adresse e-mail ne se modifie pas ici : c'est l'identifiant du compte.",
    "role": "Le rôle n'est pas modifiable.",
    "cabinet": "Le cabinet n'est pas modifiable.",
    "id": "L'identifiant n'est pas modifiable.",
    "timezone": "Le fuseau horaire est celui du cabinet : il ne se modifie pas ici.",
}


def refuser_champs_non_modifiables(data: object) -> None:
    """400 ``champ_non_modifiable`` naming each field of ``data`` that ``PATCH /api/me/``
    does not change (a body that is not an object is left to the serializer)."""
    if not isinstance(data, dict):
        return
    refuses = sorted(str(k) for k in data if k not in ME_MODIFIABLES)
    if refuses:
        raise DomainError(
            "Champ non modifiable : seuls first_name, last_name et telephone se modifient ici",
            code="champ_non_modifiable",
            details={k: [ME_REFUS.get(k, "Champ inconnu ou non modifiable.")] for k in refuses[:20]},
        )


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(min_length=8, max_length=128, write_only=True)
    first_name = serializers.CharField(max_length=150, required=False, default="")
    last_name = serializers.CharField(max_length=150, required=False, default="")
    telephone = TelephoneField(max_length=30, required=False, default="", allow_blank=True)


class ReglesSerializer(serializers.Serializer):
    """A practice's rules (SPEC "Practice workflow"); ``max_rdv_a_venir`` null: no cap."""

    delai_annulation_heures = serializers.IntegerField(min_value=0, max_value=24 * 30)
    preavis_minimum_minutes = serializers.IntegerField(min_value=0, max_value=60 * 24 * 30)
    max_rdv_a_venir = serializers.IntegerField(min_value=1, max_value=100, allow_null=True)


class CabinetSerializer(serializers.ModelSerializer):
    # Read-only here: shown where a patient sees them before they bite.
    regles = serializers.SerializerMethodField()

    class Meta:
        model = Cabinet
        fields = ["id", "nom", "adresse", "ville", "code_postal", "telephone", "timezone", "regles"]

    def get_regles(self, obj: Cabinet) -> ReglesSerializer:
        return regles_de(obj)


class MedecinSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user_id", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)
    cabinet = CabinetSerializer(read_only=True)
    regles = serializers.SerializerMethodField()

    class Meta:
        model = Medecin
        fields = ["id", "first_name", "last_name", "specialite", "cabinet", "nouveaux_patients_en_ligne",
                  "regles"]
        read_only_fields = ["specialite"]

    def get_regles(self, obj: Medecin) -> ReglesSerializer:
        return regles_de(obj.cabinet)


class MedecinUpdateSerializer(serializers.Serializer):
    nouveaux_patients_en_ligne = serializers.BooleanField()


class MedecinCourtSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user_id", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)

    class Meta:
        model = Medecin
        fields = ["id", "first_name", "last_name", "specialite", "cabinet"]


class CreneauSerializer(serializers.ModelSerializer):
    """Slot data only: what role-wide rooms may receive (never a patient)."""

    medecin = serializers.IntegerField(source="medecin_id", read_only=True)
    debut = serializers.SerializerMethodField()
    fin = serializers.SerializerMethodField()
    timezone = serializers.CharField(source="medecin.cabinet.timezone", read_only=True)
    disponible = serializers.SerializerMethodField()

    class Meta:
        model = Creneau
        fields = ["id", "medecin", "debut", "fin", "timezone", "actif", "disponible"]

    def get_debut(self, obj: Creneau) -> str:
        return local_iso(obj.debut, obj.medecin.cabinet.tzinfo)

    def get_fin(self, obj: Creneau) -> str:
        return local_iso(obj.fin, obj.medecin.cabinet.tzinfo)

    def get_disponible(self, obj: Creneau) -> bool:
        reserve = getattr(obj, "reserve", None)
        if reserve is None:  # booked, or held for a patient (attente.Retenue) until it lapses
            reserve = (obj.rendezvous.filter(statut__in=ACTIVE_STATUTS).exists()
                       or vivantes().filter(creneau_id=obj.pk).exists())
        return obj.actif and not reserve and obj.debut > timezone.now()


class CreneauCreateSerializer(serializers.Serializer):
    medecin = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    debut = BoundedDateTimeField()
    fin = BoundedDateTimeField()


class CreneauSerieSerializer(serializers.Serializer):
    medecin = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    debut = BoundedDateTimeField()
    fin = BoundedDateTimeField()
    duree_minutes = serializers.IntegerField(min_value=5, max_value=720)


class DeplacementSerializer(serializers.Serializer):
    """``POST /api/rendezvous/{id}/move/``: the slot the booking moves to."""

    creneau = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class MotifCourtSerializer(serializers.ModelSerializer):
    class Meta:
        model = Motif
        fields = ["id", "libelle", "duree_minutes"]
        read_only_fields = fields


class RendezVousSerializer(serializers.ModelSerializer):
    patient = UserPublicSerializer(read_only=True)
    creneau = CreneauSerializer(read_only=True)
    medecin = serializers.SerializerMethodField()
    # Only the canceller's role: the patient never learns which staff member it was.
    annule_par = serializers.CharField(source="annule_par.role", default=None, read_only=True)
    motif_consultation = MotifCourtSerializer(read_only=True, allow_null=True)
    annulable_jusqu_a = serializers.SerializerMethodField()

    class Meta:
        model = RendezVous
        fields = [
            "id", "statut", "motif", "patient", "medecin", "creneau",
            "annule_par", "motif_annulation", "confirme_at", "annule_at",
            "created_at", "updated_at",
            "motif_consultation", "pris_par", "deplace_at", "ancien_creneau", "annulable_jusqu_a",
        ]
        read_only_fields = ["pris_par", "deplace_at", "ancien_creneau"]

    def get_medecin(self, obj: RendezVous) -> dict:
        return MedecinCourtSerializer(obj.creneau.medecin).data

    def get_annulable_jusqu_a(self, obj: RendezVous) -> str | None:
        """Until when the patient may cancel or move it (the practice's deadline)."""
        limite = annulable_jusqu_a(obj)
        return None if limite is None else local_iso(limite, obj.creneau.medecin.cabinet.tzinfo)


class RendezVousCreateSerializer(serializers.Serializer):
    creneau = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    motif = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    motif_consultation = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True,
                                                  help_text="Id d'un motif de consultation du médecin")
    patient = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False,
                                       help_text="Le cabinet prend rendez-vous pour ce patient")


class AnnulationSerializer(serializers.Serializer):
    motif = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


def rendezvous_data(rdv: RendezVous) -> dict:
    """The booking as the REST API shows it, serialised once per saved state.

    The ``post_save`` receiver builds the event payloads inside the transaction; the view
    answering the same request returns that very JSON instead of serialising again
    (DRF serialisation was half the CPU of a booking request).
    """
    key = (rdv.statut, rdv.updated_at)
    cached = rdv.__dict__.get("_rest_data")
    if cached is None or cached[0] != key:
        cached = (key, RendezVousSerializer(rdv).data)
        rdv.__dict__["_rest_data"] = cached
    return cached[1]
