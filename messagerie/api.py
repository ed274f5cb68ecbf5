"""REST views for conversations, messages and read receipts."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from audit import journal
from medical_booking.api import valid
from rendezvous.models import User

from . import selectors, services
from .models import Conversation
from .serializers import (
    ConversationCreateSerializer,
    ConversationSerializer,
    MessageCreateSerializer,
    MessageSerializer,
)


class ConversationViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = ConversationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Conversation.objects.none()
        return selectors.conversations_of(self.request.user)

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "user": self.request.user}

    # The access log: conversations carry their last message.
    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        journal.lecture_conversations(request.user, page)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        conversation = self.get_object()
        journal.lecture_conversations(request.user, [conversation], detail=True)
        return Response(self.get_serializer(conversation).data)

    @extend_schema(request=ConversationCreateSerializer, responses={201: ConversationSerializer})
    def create(self, request):
        data = valid(ConversationCreateSerializer, request.data)
        other = User.objects.filter(pk=data["participant"]).first()
        conversation, created = services.open_conversation(user=request.user, other=other)
        conversation = self.get_queryset().get(pk=conversation.pk)
        if not created:  # an existing conversation is returned with its last message
            journal.lecture_conversations(request.user, [conversation], detail=True)
        return Response(
            ConversationSerializer(conversation, context={"user": request.user}).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(methods=["GET"], responses=MessageSerializer(many=True))
    @extend_schema(methods=["POST"], request=MessageCreateSerializer, responses={201: MessageSerializer})
    @action(detail=True, methods=["get", "post"])
    def messages(self, request, pk=None):
        conversation = self.get_object()
        if request.method == "POST":
            data = valid(MessageCreateSerializer, request.data)
            message = services.send_message(
                auteur=request.user, conversation=conversation, contenu=data["contenu"]
            )
            return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)
        qs = conversation.messages.select_related("auteur").order_by("-created_at", "-id")
        page = self.paginate_queryset(qs)
        journal.lecture_messages(request.user, conversation, page)
        return self.get_paginated_response(MessageSerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: {"type": "object"}})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        conversation = self.get_object()  # DRF's lookup: a non-numeric id is a 404, not a 500
        ids = services.mark_read(lecteur=request.user, conversation=conversation)
        return Response({"conversation": conversation.pk, "messages": ids, "non_lus": 0})
