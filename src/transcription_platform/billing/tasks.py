"""django-q2 tasks of the billing app (no arguments: they scan, they take no instances)."""

from __future__ import annotations

from typing import Any

from transcription_platform.billing import services
from transcription_platform.queueing import ensure_schedule

RECONCILE_SCHEDULE_NAME = "transcription_platform.billing.reconcile_reservations"


def reconcile_reservations() -> int:
    """Close reservations of jobs that finished while billing missed the signal."""
    return services.reconcile_reservations()


def ensure_reconcile_schedule(**kwargs: Any) -> None:
    """post_migrate: keep exactly one reconcile schedule (every 5 minutes).

    Args:
        **kwargs: ``post_migrate`` arguments.
    """
    ensure_schedule(
        RECONCILE_SCHEDULE_NAME,
        "transcription_platform.billing.tasks.reconcile_reservations",
        minutes=5,
    )
