"""The heartbeat task run every minute by django-q2's scheduler."""

from __future__ import annotations

from django.utils import timezone

HEARTBEAT_TASK = "transcription_platform.health.tasks.record_heartbeat"
HEARTBEAT_SCHEDULE_NAME = "transcription_platform.heartbeat"


def record_heartbeat(cluster: str | None = None) -> None:
    from django_q.conf import Conf

    from transcription_platform.health.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(
        cluster=cluster or Conf.PREFIX, defaults={"last_seen": timezone.now()}
    )


def ensure_heartbeat_schedule(**kwargs: object) -> None:
    """post_migrate: keep exactly one every-minute heartbeat schedule."""
    from django_q.models import Schedule

    from transcription_platform.conf import settings

    Schedule.objects.update_or_create(
        name=HEARTBEAT_SCHEDULE_NAME,
        defaults={
            "func": HEARTBEAT_TASK,
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
            "cluster": settings.TASK_CLUSTER,
        },
    )
