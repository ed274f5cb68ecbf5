"""Serializers of weekly hours and absences (``/api/medecins/{id}/horaires/``, ``/absences/``)."""

from __future__ import annotations

from rest_framework import serializers

from medical_booking.fields import BoundedDateTimeField

from .agenda import MAX_PLAGES
from .models import Absence, Horaire, RendezVous
from .serializers import local_iso, rendezvous_data

HEURE = {"format": "%H:%M", "input_formats": ["%H:%M"]}


class HoraireSerializer(serializers.ModelSerializer):
    """One range of a doctor's week: on ``jour`` (0 = lundi … 6 = dimanche), slots of
    ``duree_minutes`` from ``debut`` to ``fin`` ("HH:MM", wall-clock in the practice's zone)."""

    jour = serializers.IntegerField(min_value=0, max_value=6, help_text="0 = lundi … 6 = dimanche")
    debut = serializers.TimeField(**HEURE)
    fin = serializers.TimeField(**HEURE)
    duree_minutes = serializers.IntegerField(min_value=5, max_value=480)

    class Meta:
        model = Horaire
        fields = ["jour", "debut", "fin", "duree_minutes"]

    def validate(self, attrs: dict) -> dict:
        if attrs["fin"] <= attrs["debut"]:
            raise serializers.ValidationError({"fin": ["La fin doit être après le début."]})
        minutes = (attrs["fin"].hour * 60 + attrs["fin"].minute) - (attrs["debut"].hour * 60 + attrs["debut"].minute)
        if minutes < attrs["duree_minutes"]:
            raise serializers.ValidationError(
                {"duree_minutes": ["La plage est plus courte qu'un créneau."]})
        return attrs


class SemaineSerializer(serializers.ListSerializer):
    """The whole week, as PUT takes it: a list of ranges (empty: no hours)."""

    child = HoraireSerializer()

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", MAX_PLAGES)
        super().__init__(*args, **kwargs)


class HorairesSerializer(serializers.Serializer):
    horaires = HoraireSerializer(many=True)
    timezone = serializers.CharField(help_text="Fuseau horaire du cabinet (heures murales).")


class HorairesRemplacesSerializer(HorairesSerializer):
    crees = serializers.IntegerField(help_text="Créneaux générés à l'horizon.")
    retires = serializers.IntegerField(help_text="Créneaux libres générés retirés (hors des nouveaux horaires).")


class AbsenceSerializer(serializers.ModelSerializer):
    medecin = serializers.IntegerField(source="medecin_id", read_only=True)
    debut = serializers.SerializerMethodField()
    fin = serializers.SerializerMethodField()
    cree_par = serializers.IntegerField(source="cree_par_id", read_only=True, allow_null=True)

    class Meta:
        model = Absence
        fields = ["id", "medecin", "debut", "fin", "motif", "cree_par", "created_at"]

    def get_debut(self, obj: Absence) -> str:
        return local_iso(obj.debut, obj.medecin.cabinet.tzinfo)

    def get_fin(self, obj: Absence) -> str:
        return local_iso(obj.fin, obj.medecin.cabinet.tzinfo)


class AbsenceCreateSerializer(serializers.Serializer):
    debut = BoundedDateTimeField()
    fin = BoundedDateTimeField()
    motif = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


def rendezvous_a_deplacer(rdv: RendezVous) -> dict:
    """The booking as the API shows it, with the patient's phone: staff call to move it."""
    data = dict(rendezvous_data(rdv))
    data["patient"] = {**data["patient"], "telephone": rdv.patient.telephone}
    return data


class RendezVousADeplacerSerializer(serializers.Serializer):
    """Schema only: a booking (``RendezVous``) whose ``patient`` also carries ``telephone``."""

    id = serializers.IntegerField()
    statut = serializers.CharField()
    patient = serializers.DictField()
    creneau = serializers.DictField()


class AbsenceDeclareeSerializer(serializers.Serializer):
    absence = AbsenceSerializer()
    creneaux_retires = serializers.IntegerField()
    rendezvous_a_deplacer = RendezVousADeplacerSerializer(many=True)
