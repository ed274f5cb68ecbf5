"""Serializers of the practice's desk: patient records, visit reasons."""

from __future__ import annotations

from rest_framework import serializers

from .models import Motif, User


class PatientSerializer(serializers.ModelSerializer):
    """A patient as the desk sees it; ``compte_actif``: they can log in (a record made on
    the phone is not, until claimed)."""

    compte_actif = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "first_name", "last_name", "email", "telephone", "compte_actif"]
        read_only_fields = fields

    def get_compte_actif(self, obj: User) -> bool:
        return obj.has_usable_password()


class PatientCreateSerializer(serializers.Serializer):
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150)
    telephone = serializers.CharField(max_length=30, help_text="Chiffres, espaces, + initial ; 8 à 15 chiffres")
    email = serializers.EmailField(max_length=254, required=False, allow_null=True, allow_blank=True)


class MotifSerializer(serializers.ModelSerializer):
    medecin = serializers.IntegerField(source="medecin_id", read_only=True)

    class Meta:
        model = Motif
        fields = ["id", "medecin", "libelle", "duree_minutes", "nouveaux_patients", "en_ligne", "actif"]
        read_only_fields = ["id", "medecin", "actif"]


class MotifEcritureSerializer(serializers.Serializer):
    libelle = serializers.CharField(max_length=120)
    duree_minutes = serializers.IntegerField(min_value=5, max_value=480)
    nouveaux_patients = serializers.BooleanField(default=True)
    en_ligne = serializers.BooleanField(default=True)
