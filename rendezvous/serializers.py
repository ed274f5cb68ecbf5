"""One serializer per object, used by the REST API and by real-time payloads alike."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from medical_booking.fields import MAX_ID, BoundedDateTimeField

from .models import ACTIVE_STATUTS, Cabinet, Creneau, Medecin, RendezVous, User
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

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "telephone", "role", "cabinet"]
        read_only_fields = ["id", "email", "role", "cabinet"]


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(min_length=8, max_length=128, write_only=True)
    first_name = serializers.CharField(max_length=150, required=False, default="")
    last_name = serializers.CharField(max_length=150, required=False, default="")
    telephone = TelephoneField(max_length=30, required=False, default="", allow_blank=True)


class CabinetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Cabinet
        fields = ["id", "nom", "adresse", "ville", "code_postal", "telephone", "timezone"]


class MedecinSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user_id", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)
    cabinet = CabinetSerializer(read_only=True)

    class Meta:
        model = Medecin
        fields = ["id", "first_name", "last_name", "specialite", "cabinet"]


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
        if reserve is None:
            reserve = obj.rendezvous.filter(statut__in=ACTIVE_STATUTS).exists()
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


class RendezVousSerializer(serializers.ModelSerializer):
    patient = UserPublicSerializer(read_only=True)
    creneau = CreneauSerializer(read_only=True)
    medecin = serializers.SerializerMethodField()
    # Only the canceller's role: the patient never learns which staff member it was.
    annule_par = serializers.CharField(source="annule_par.role", default=None, read_only=True)

    class Meta:
        model = RendezVous
        fields = [
            "id", "statut", "motif", "patient", "medecin", "creneau",
            "annule_par", "motif_annulation", "confirme_at", "annule_at",
            "created_at", "updated_at",
        ]

    def get_medecin(self, obj: RendezVous) -> dict:
        return MedecinCourtSerializer(obj.creneau.medecin).data


class RendezVousCreateSerializer(serializers.Serializer):
    creneau = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    motif = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


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
