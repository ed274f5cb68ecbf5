from __future__ import annotations

from rest_framework import serializers

from medical_booking.fields import MAX_ID

from .catalogue import TYPES
from .models import Event


class NotificationSerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="name")
    lu = serializers.BooleanField(read_only=True)

    class Meta:
        model = Event
        fields = ["id", "event", "type", "message", "data", "lu", "created_at"]
        read_only_fields = fields


class BroadcastSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=1000)
    type = serializers.ChoiceField(choices=TYPES, default="info")
    role = serializers.CharField(max_length=16, required=False)
    user = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    cabinet = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)
