from __future__ import annotations

from rest_framework import serializers

from medical_booking.fields import MAX_ID
from rendezvous.serializers import UserPublicSerializer

from .models import Conversation, Message


class MessageSerializer(serializers.ModelSerializer):
    auteur = UserPublicSerializer(read_only=True)

    class Meta:
        model = Message
        fields = ["id", "conversation", "auteur", "contenu", "created_at", "lu_at"]
        read_only_fields = fields


class MessageCreateSerializer(serializers.Serializer):
    contenu = serializers.CharField(max_length=5000, trim_whitespace=True)


class ConversationSerializer(serializers.ModelSerializer):
    participants = UserPublicSerializer(many=True, read_only=True)
    dernier_message = serializers.SerializerMethodField()
    non_lus = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = ["id", "participants", "dernier_message", "non_lus", "created_at", "updated_at"]

    def get_dernier_message(self, obj: Conversation) -> dict | None:
        last = getattr(obj, "_dernier_message", None)
        if last is None:
            last = obj.messages.select_related("auteur").order_by("-created_at", "-id").first()
        return MessageSerializer(last).data if last else None

    def get_non_lus(self, obj: Conversation) -> int:
        annotated = getattr(obj, "non_lus", None)
        if annotated is not None:
            return annotated
        user = self.context.get("user")
        if user is None:
            return 0
        return obj.messages.filter(lu_at__isnull=True).exclude(auteur=user).count()


class ConversationCreateSerializer(serializers.Serializer):
    participant = serializers.IntegerField(min_value=1, max_value=MAX_ID)
