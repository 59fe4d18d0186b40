"""django-q2 tasks of the notifications app (they take ids, not instances)."""

from __future__ import annotations

from typing import Any

from transcription_platform.notifications import services
from transcription_platform.queueing import ensure_schedule

SWEEP_SCHEDULE_NAME = "transcription_platform.notifications.sweep_webhooks"


def deliver_webhook(message_id: str, number: int) -> int | None:
    """Attempt ``number`` of message ``message_id``; returns the HTTP status, if any."""
    attempt = services.deliver(message_id, number)
    return attempt.status_code if attempt is not None else None


def sweep_webhooks() -> dict[str, int]:
    """Re-enqueue lost deliveries and purge expired per-request endpoints."""
    return services.sweep()


def ensure_sweep_schedule(**kwargs: Any) -> None:
    """post_migrate: keep exactly one sweep schedule (every 5 minutes).

    Args:
        **kwargs: ``post_migrate`` arguments.
    """
    ensure_schedule(
        SWEEP_SCHEDULE_NAME, "transcription_platform.notifications.tasks.sweep_webhooks", minutes=5
    )
