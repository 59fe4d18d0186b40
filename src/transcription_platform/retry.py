"""Backoff for work retried after a transient provider error (engines, analyzers)."""

from __future__ import annotations

from transcription_platform.conf import settings


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: TASK_RETRY_BACKOFF_SECONDS doubled
    per attempt, never sooner than the provider's ``retry_after``, at most
    TASK_MAX_BACKOFF_SECONDS."""
    delay = settings.TASK_RETRY_BACKOFF_SECONDS * (2 ** (attempt - 1))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return float(min(delay, settings.TASK_MAX_BACKOFF_SECONDS))
