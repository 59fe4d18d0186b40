"""django-q2 tasks of the billing app (no arguments: they scan, they take no instances)."""

from __future__ import annotations

from typing import Any

from transcription_platform.billing import services
from transcription_platform.conf import settings

RECONCILE_SCHEDULE_NAME = "transcription_platform.billing.reconcile_reservations"


def reconcile_reservations() -> int:
    """Close reservations of jobs that finished while billing missed the signal."""
    return services.reconcile_reservations()


def ensure_reconcile_schedule(**kwargs: Any) -> None:
    """post_migrate: keep exactly one reconcile schedule (every 5 minutes).

    Args:
        **kwargs: ``post_migrate`` arguments.
    """
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=RECONCILE_SCHEDULE_NAME,
        defaults={
            "func": "transcription_platform.billing.tasks.reconcile_reservations",
            "schedule_type": Schedule.MINUTES,
            "minutes": 5,
            "repeats": -1,
            "cluster": settings.TASK_CLUSTER,
        },
    )
