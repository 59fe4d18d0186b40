"""The heartbeat task run every minute by django-q2's scheduler."""

from __future__ import annotations

from django.utils import timezone

from transcription_platform.queueing import ensure_schedule

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
    ensure_schedule(HEARTBEAT_SCHEDULE_NAME, HEARTBEAT_TASK, minutes=1)
