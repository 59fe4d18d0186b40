"""A Django REST framework ``ModelViewSet`` over ``Transcription``: JWT, page of 20."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from ninja_jwt.authentication import JWTBaseAuthentication
from ninja_jwt.exceptions import TokenError
from rest_framework import authentication, exceptions, pagination, permissions, serializers
from rest_framework.request import Request
from rest_framework.routers import SimpleRouter
from rest_framework.viewsets import ModelViewSet

from transcription_platform.transcriptions.models import Transcription

LIST_FIELDS = [
    "id", "title", "original_filename", "status", "progress", "language",
    "detected_language", "engine", "model", "duration", "size_bytes", "content_type",
    "error", "created_at", "started_at", "completed_at", "updated_at",
]  # fmt: skip
DETAIL_FIELDS = [*LIST_FIELDS, "prompt", "text", "segments", "usage", "audio_info"]


class BearerJWTAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <access token>`` checked by the same JWT library."""

    jwt = JWTBaseAuthentication()

    def authenticate(self, request: Request) -> tuple[Any, str] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            user = self.jwt.jwt_authenticate(request._request, token)
        except TokenError as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return user, token

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class TranscriptionListSerializer(serializers.ModelSerializer):
    error = serializers.JSONField(read_only=True)

    class Meta:
        model = Transcription
        fields = LIST_FIELDS


class TranscriptionSerializer(TranscriptionListSerializer):
    class Meta:
        model = Transcription
        fields = DETAIL_FIELDS


class Pagination(pagination.PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class TranscriptionViewSet(ModelViewSet):
    authentication_classes = [BearerJWTAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    pagination_class = Pagination

    def get_queryset(self) -> QuerySet[Transcription]:
        queryset = Transcription.objects.filter(owner=self.request.user)
        if self.action == "list":
            fields = [f for f in LIST_FIELDS if f != "error"] + ["error_code", "error_message"]
            queryset = queryset.only(*fields)
        return queryset.order_by("-created_at", "-pk")

    def get_serializer_class(self) -> type[serializers.ModelSerializer]:
        if self.action == "list":
            return TranscriptionListSerializer
        return TranscriptionSerializer


router = SimpleRouter()
router.register("transcriptions", TranscriptionViewSet, basename="bench-drf-transcription")
urlpatterns = router.urls
