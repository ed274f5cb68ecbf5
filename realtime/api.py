"""REST views for the notification centre."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from audit import journal
from medical_booking.api import valid
from medical_booking.throttling import BroadcastThrottle

from . import selectors, services
from .models import Event
from .serializers import BroadcastSerializer, NotificationSerializer


class NotificationViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = NotificationSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Event.objects.none()
        user = self.request.user
        qs = selectors.with_read_state(selectors.notifications_of(user), user).order_by("-id")
        flag = self.request.query_params.get("non_lues")
        if flag in ("true", "1"):
            qs = qs.filter(lu=False)
        return qs

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        journal.lecture_notifications(request.user, page)  # bookings and messages they carry
        response = self.get_paginated_response(self.get_serializer(page, many=True).data)
        response.data["non_lues"] = selectors.unread_count(request.user)
        return response

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        try:
            event_id = int(pk)
        except (TypeError, ValueError):
            event_id = 0
        services.mark_notification_read(user=request.user, event_id=event_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: {"type": "object"}})
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        services.mark_all_read(user=request.user)
        return Response({"non_lues": 0})

    @extend_schema(request=BroadcastSerializer, responses={201: NotificationSerializer})
    @action(detail=False, methods=["post"], throttle_classes=[BroadcastThrottle])
    def broadcast(self, request):
        data = valid(BroadcastSerializer, request.data)
        event = services.broadcast(
            acteur=request.user, message=data["message"], type=data["type"],
            role=data.get("role"), user_id=data.get("user"), cabinet_id=data.get("cabinet"),
        )
        event.lu = False
        return Response(NotificationSerializer(event).data, status=status.HTTP_201_CREATED)
