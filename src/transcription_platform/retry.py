"""Retrying after a transient provider error (engines, analyzers): the provider's
retry hint and our backoff."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

from transcription_platform.conf import settings


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: TASK_RETRY_BACKOFF_SECONDS doubled
    per attempt, never sooner than the provider's ``retry_after``, at most
    TASK_MAX_BACKOFF_SECONDS."""
    delay = settings.TASK_RETRY_BACKOFF_SECONDS * (2 ** (attempt - 1))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return float(min(delay, settings.TASK_MAX_BACKOFF_SECONDS))


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's retry hint: ``retry-after-ms``, or ``Retry-After`` seconds or date."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
