"""Holds and waiting-list entries as the REST API (and the offer event) shows them."""

from __future__ import annotations

from datetime import date

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from medical_booking.fields import MAX_ID
from rendezvous.models import Creneau
from rendezvous.selectors import with_disponibilite
from rendezvous.serializers import CreneauSerializer, MotifCourtSerializer, local_iso

from .models import InscriptionAttente, Retenue
from .retenues import vivantes


class RetenueSerializer(serializers.ModelSerializer):
    creneau = CreneauSerializer(read_only=True)
    expire_at = serializers.SerializerMethodField()
    offre = serializers.SerializerMethodField(help_text="Proposé depuis la liste d'attente (sinon : retenu en "
                                                        "réservant)")

    class Meta:
        model = Retenue
        fields = ["creneau", "expire_at", "offre"]

    def get_expire_at(self, obj: Retenue) -> str:
        return local_iso(obj.expire_at, obj.creneau.medecin.cabinet.tzinfo)

    def get_offre(self, obj: Retenue) -> bool:
        return obj.offre_id is not None


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
        offres = getattr(obj, "offres_vivantes", None)
        if offres is None:  # one entry, not prefetched
            offres = offres_vivantes().queryset.filter(offre=obj)
        retenue = next(iter(offres), None)
        return None if retenue is None else RetenueSerializer(retenue).data


def offres_vivantes() -> Prefetch:
    """Each entry's live offer and its slot (``reserve`` annotated) for a whole list: three
    queries, not three per entry (``InscriptionSerializer.offre``)."""
    creneaux = with_disponibilite(Creneau.objects.select_related("medecin__cabinet"))
    return Prefetch("offres", queryset=vivantes().prefetch_related(Prefetch("creneau", queryset=creneaux)),
                    to_attr="offres_vivantes")


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
