"""The analysis of a transcript: one row per transcription, with a lifecycle of its own.

State changes go through `transcription_platform.analysis.services`. The analysis
status is independent of the transcription's: a failed analysis leaves the transcript
completed and untouched.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class AnalysisStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class Analysis(models.Model):
    transcription = models.OneToOneField(
        # By label: the transcriptions app's models are reached through its services.
        "transcription_platform_transcriptions.Transcription",
        on_delete=models.CASCADE,
        related_name="analysis",
    )
    analyzer = models.CharField(max_length=64, help_text="Name in ANALYZERS.")
    model = models.CharField(max_length=128, blank=True)
    status = models.CharField(
        max_length=16, choices=AnalysisStatus.choices, default=AnalysisStatus.PENDING
    )
    summary = models.TextField(blank=True)
    topics = models.JSONField(default=list, blank=True)
    action_items = models.JSONField(default=list, blank=True)
    # Tokens of the current run, failed attempts and repairs included (they are billed).
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now, editable=False)
    requested_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "analyses"
        indexes = [models.Index(fields=["status", "updated_at"], name="tp_an_status_updated")]

    def __str__(self) -> str:
        return f"Analysis of {self.transcription_id} ({self.status})"

    @property
    def error(self) -> dict[str, Any] | None:
        if not self.error_code:
            return None
        return {"code": self.error_code, "message": self.error_message}

    @property
    def usage(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
