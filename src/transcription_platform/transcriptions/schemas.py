from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import BaseModel

from transcription_platform.schemas import IsoDatetime

StatusName = Literal["pending", "processing", "completed", "failed", "cancelled"]

Ordering = Literal[
    "created_at", "-created_at", "updated_at", "-updated_at", "completed_at", "-completed_at",
    "duration", "-duration", "title", "-title", "status", "-status",
]  # fmt: skip


class TranscriptionError(Schema):
    """Why a transcription failed."""

    code: str
    message: str


# Plain pydantic models, not ninja Schemas: segments are JSON, never ORM objects, and
# ninja's per-field ``DjangoGetter`` made them the costliest part of a detail answer.
class WordOut(BaseModel):
    start: float
    end: float
    text: str
    probability: float | None = None


class SegmentOut(BaseModel):
    id: int
    start: float
    end: float
    text: str
    words: list[WordOut] = []


class TranscriptionListItem(Schema):
    """A transcription without its transcript (lists stay light)."""

    id: UUID
    title: str
    original_filename: str
    status: StatusName
    progress: int = Field(..., ge=0, le=100)
    language: str
    detected_language: str
    engine: str
    model: str
    duration: float | None
    size_bytes: int
    content_type: str
    error: TranscriptionError | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    updated_at: datetime


class TranscriptionOut(TranscriptionListItem):
    """A transcription with its full transcript and timestamped segments."""

    prompt: str
    text: str
    segments: list[SegmentOut]
    usage: dict[str, Any]
    audio_info: dict[str, Any]


class TranscriptExport(Schema):
    """The document ``export?format=json`` serves (see ``exports.to_json``)."""

    id: UUID
    title: str
    original_filename: str
    language: str
    detected_language: str
    engine: str
    model: str
    duration: float | None
    created_at: datetime
    completed_at: datetime | None
    text: str
    segments: list[SegmentOut]
    analysis: dict[str, Any] | None = Field(
        None,
        description=(
            "The transcript's analysis (status, summary, topics, action_items, usage, "
            "error, …); present only when the analysis app is installed and one was requested."
        ),
    )


class TranscriptionFilters(Schema):
    status: StatusName | None = None
    language: str | None = Field(None, max_length=16, description="Requested or detected.")
    created_after: IsoDatetime | None = None
    created_before: IsoDatetime | None = None
    updated_since: IsoDatetime | None = Field(
        None, description="Only items changed at or after this time (offline sync)."
    )
    search: str | None = Field(None, max_length=200, description="Full text: title + transcript.")
    ordering: Ordering = "-created_at"
