"""Error codes of the transcriptions app (see `transcription_platform.error_codes`).

Engine and audio codes (``engine_*``, ``not_audio``…) belong to the engines package.
"""

from __future__ import annotations

from enum import StrEnum


class TranscriptionErrorCode(StrEnum):
    ILLEGAL_TRANSITION = "illegal_transition"
    NOT_COMPLETED = "not_completed"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    AUDIO_MISSING = "audio_missing"
    AUDIO_TOO_LONG = "audio_too_long"
    UNKNOWN_ENGINE = "unknown_engine"
    WORKER_LOST = "worker_lost"
    WEBHOOKS_UNAVAILABLE = "webhooks_unavailable"
    STORAGE_UNAVAILABLE = "storage_unavailable"
    CALLBACK_UNAUTHORIZED = "callback_unauthorized"
    INVALID_CALLBACK = "invalid_callback"
    UNKNOWN_REMOTE_JOB = "unknown_remote_job"
    CALLBACK_UPSTREAM_FAILED = "callback_upstream_failed"
