"""The transcription job and its chunks.

State changes go through `transcription_platform.transcriptions.services` —
never assign ``status`` directly.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings as django_settings
from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.utils import timezone
from django.utils.functional import empty

from transcription_platform.conf import settings
from transcription_platform.generics import LazyObject

if TYPE_CHECKING:
    from django.contrib.postgres.indexes import GinIndex
    from django.contrib.postgres.search import SearchVector

#: Text-search configuration: "simple" treats every language alike (no stemming), so
#: results match the SQLite fallback and transcripts in any language.
SEARCH_CONFIG = "simple"


def search_vector() -> SearchVector:
    """The full-text expression; the GIN index (PostgreSQL only) is built on exactly it."""
    # Imported here, not at module level: django.contrib.postgres needs psycopg (from
    # Django 6 on at import time), which a SQLite-only site does not install.
    from django.contrib.postgres.search import SearchVector

    return SearchVector("title", "text", config=SEARCH_CONFIG)


def search_index() -> GinIndex:
    # Created by a migration on PostgreSQL only (SQLite has no GIN); not in Meta.indexes.
    from django.contrib.postgres.indexes import GinIndex

    return GinIndex(search_vector(), name="tp_tr_search")


class _AudioStorage(LazyObject[Storage]):
    """The storage named by AUDIO_STORAGE, looked up lazily and again whenever
    STORAGES or TRANSCRIPTION_PLATFORM change (override_settings works)."""

    _wrapped: Storage | object  # ``empty`` until first used

    def _setup(self) -> None:
        self._wrapped = storages[settings.AUDIO_STORAGE]


_audio_storage = _AudioStorage()


@receiver(setting_changed)
def _reset_audio_storage(*, setting: str, **kwargs: Any) -> None:
    if setting in ("STORAGES", "TRANSCRIPTION_PLATFORM"):
        _audio_storage._wrapped = empty


def audio_storage() -> Storage:
    """The storage alias named by AUDIO_STORAGE (local disk, S3 via django-storages…)."""
    # The proxy forwards every attribute to the storage (django-stubs types Django's own
    # default_storage proxy as a Storage the same way).
    return cast("Storage", _audio_storage)


def audio_upload_to(instance: Transcription, filename: str) -> str:
    # The stored name never reuses the client's filename (kept in original_filename).
    prefix = timezone.now().strftime(settings.AUDIO_UPLOAD_TO)
    suffix = filename.rsplit(".", 1)[-1].lower()[:10] if "." in filename else "bin"
    return f"{prefix}/{instance.pk}.{suffix}"


class TranscriptionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class Transcription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="transcriptions"
    )
    title = models.CharField(max_length=255, blank=True)
    original_filename = models.CharField(max_length=255)
    audio = models.FileField(storage=audio_storage, upload_to=audio_upload_to, max_length=500)
    size_bytes = models.BigIntegerField()
    content_type = models.CharField(max_length=100, blank=True)
    audio_info = models.JSONField(default=dict, blank=True)
    duration = models.FloatField(null=True, blank=True)

    language = models.CharField(max_length=16, blank=True, help_text="Requested language.")
    detected_language = models.CharField(max_length=16, blank=True)
    engine = models.CharField(max_length=64)
    model = models.CharField(max_length=128, blank=True)
    prompt = models.TextField(blank=True)
    analyze = models.BooleanField(
        null=True, blank=True, help_text="Analyse the transcript; None: owner's or site default."
    )

    status = models.CharField(
        max_length=16, choices=TranscriptionStatus.choices, default=TranscriptionStatus.PENDING
    )
    progress = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)

    text = models.TextField(blank=True)
    segments = models.JSONField(default=list, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Renewed while a worker plans the chunks (its lease, CLAIM_LEASE_SECONDS).",
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="tp_tr_owner_created"),
            models.Index(fields=["owner", "status", "-created_at"], name="tp_tr_owner_status"),
            models.Index(fields=["owner", "updated_at"], name="tp_tr_owner_updated"),
            models.Index(fields=["status", "updated_at"], name="tp_tr_status_updated"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="tp_tr_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="tp_tr_progress_lte_100"
            ),
        ]

    def __str__(self) -> str:
        return self.title or self.original_filename

    @property
    def error(self) -> dict[str, Any] | None:
        if not self.error_code:
            return None
        return {"code": self.error_code, "message": self.error_message}


class ChunkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class TranscriptionChunk(models.Model):
    """One window of the audio; its stored result lets a retry redo only what is missing."""

    transcription = models.ForeignKey(
        Transcription, on_delete=models.CASCADE, related_name="chunks"
    )
    index = models.PositiveIntegerField()
    start = models.FloatField()
    end = models.FloatField()
    status = models.CharField(
        max_length=16, choices=ChunkStatus.choices, default=ChunkStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Renewed while a worker transcribes the chunk (its lease, CLAIM_LEASE_SECONDS).",
    )
    result = models.JSONField(null=True, blank=True)
    remote_id = models.CharField(
        max_length=255,
        blank=True,
        db_index=True,
        help_text="The provider's job id while an asynchronous engine works on it.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["transcription", "index"]
        constraints = [
            models.UniqueConstraint(fields=["transcription", "index"], name="tp_chunk_unique")
        ]
        indexes = [
            # The recovery sweep looks for running chunks whose lease ran out: a small
            # index over the few running rows, not the table of every chunk ever done.
            models.Index(
                fields=["heartbeat_at"],
                condition=models.Q(status="running"),
                name="tp_chunk_running_lease",
            )
        ]

    def __str__(self) -> str:
        return f"{self.transcription_id}#{self.index} [{self.start:.1f}-{self.end:.1f}]"
