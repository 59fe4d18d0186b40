"""django-q2 tasks of the notifications app (they take ids, not instances)."""

from __future__ import annotations

from transcription_platform.notifications import services


def deliver_webhook(message_id: str, number: int) -> int | None:
    """Attempt ``number`` of message ``message_id``; returns the HTTP status, if any."""
    attempt = services.deliver(message_id, number)
    return attempt.status_code if attempt is not None else None
