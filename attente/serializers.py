"""Holds and waiting-list entries as the REST API (and the offer event) shows them."""

from __future__ import annotations

from datetime import date

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from medical_booking.fields import MAX_ID
from rendezvous.serializers import CreneauSerializer, MotifCourtSerializer, local_iso

from .models import InscriptionAttente, Retenue


class RetenueSerializer(serializers.ModelSerializer):
    creneau = CreneauSerializer(read_only=True)
    expire_at = serializers.SerializerMethodField()
    offre = serializers.BooleanField(source="offre_id", read_only=True,
                                     help_text="Proposé depuis la liste d'attente (sinon : retenu en réservant)")

    class Meta:
        model = Retenue
        fields = ["creneau", "expire_at", "offre"]

    def get_expire_at(self, obj: Retenue) -> str:
        return local_iso(obj.expire_at, obj.creneau.medecin.cabinet.tzinfo)

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["offre"] = instance.offre_id is not None
        return data


class InscriptionSerializer(serializers.ModelSerializer):
    # SPEC's names on the wire: {medecin, date_from, date_to, motif}.
    date_from = serializers.DateField(source="date_debut", read_only=True)
    date_to = serializers.DateField(source="date_fin", read_only=True)
    motif = MotifCourtSerializer(source="motif_consultation", read_only=True, allow_null=True)
    offre = serializers.SerializerMethodField(help_text="Le créneau proposé en ce moment, s'il y en a un")

    class Meta:
        model = InscriptionAttente
        fields = ["id", "medecin", "date_from", "date_to", "motif", "active", "servie_at",
                  "created_at", "offre"]
        read_only_fields = fields

    @extend_schema_field(RetenueSerializer(allow_null=True))
    def get_offre(self, obj: InscriptionAttente) -> dict | None:
        from .retenues import vivantes

        retenue = vivantes().filter(offre=obj).select_related("creneau__medecin__cabinet").first()
        return None if retenue is None else RetenueSerializer(retenue).data


class InscriptionCreateSerializer(serializers.Serializer):
    medecin = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    date_from = serializers.DateField(help_text="Premier jour acceptable (fuseau du cabinet)")
    date_to = serializers.DateField(help_text="Dernier jour acceptable (inclus)")
    motif = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True,
                                     help_text="Motif de consultation (id) du médecin")

    def validate_date_from(self, value: date) -> date:
        if value.year < 2000 or value.year > 2999:
            raise serializers.ValidationError("Date hors limites")
        return value

    validate_date_to = validate_date_from
