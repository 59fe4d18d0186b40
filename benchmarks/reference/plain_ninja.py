"""A plain django-ninja API over ``Transcription``: JWT, page of 20, list and detail."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import NinjaAPI
from ninja.pagination import PageNumberPagination, paginate
from ninja_jwt.authentication import JWTAuth

from transcription_platform.transcriptions.models import Transcription
from transcription_platform.transcriptions.schemas import (
    TranscriptionListItem,
    TranscriptionOut,
)

LIST_FIELDS = [f for f in TranscriptionListItem.model_fields if f != "error"] + [
    "error_code",
    "error_message",
]

api = NinjaAPI(urls_namespace="bench_plain_ninja", auth=JWTAuth(), docs_url=None)


@api.get("/transcriptions/", response=list[TranscriptionListItem])
@paginate(PageNumberPagination, page_size=20)
def list_transcriptions(request: HttpRequest) -> QuerySet[Transcription]:
    owner: Any = request.auth  # type: ignore[attr-defined]
    return (
        Transcription.objects.filter(owner=owner).only(*LIST_FIELDS).order_by("-created_at", "-pk")
    )


@api.get("/transcriptions/{transcription_id}", response=TranscriptionOut)
def get_transcription(request: HttpRequest, transcription_id: UUID) -> Transcription:
    owner: Any = request.auth  # type: ignore[attr-defined]
    return get_object_or_404(Transcription, pk=transcription_id, owner=owner)
