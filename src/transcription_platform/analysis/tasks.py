"""django-q2 tasks of the analysis step. They take ids and are safe to re-deliver.

analyze_transcription(transcription_id)
    claim the pending analysis and run it (see services.run_analysis).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import router, transaction
from django.utils import timezone

from transcription_platform.analysis.models import Analysis
from transcription_platform.conf import settings

TASK = "transcription_platform.analysis.tasks.analyze_transcription"


def analyze_transcription(transcription_id: str) -> None:
    """Run the pending analysis of one transcription (nothing if none is pending)."""
    from transcription_platform.analysis import services

    services.run_analysis(transcription_id)


def enqueue_analysis(transcription_id: Any, *, delay: float = 0.0) -> None:
    """Enqueue the analysis task, now or after ``delay`` seconds.

    Now: with the ORM broker on our database the queue row is written in the caller's
    transaction; other brokers (and sync mode) enqueue after commit. Later: a one-off
    django-q2 schedule (written in the caller's transaction), so no worker sleeps
    through a provider's Retry-After.
    """
    pk = str(transcription_id)
    if delay > 0:
        from django_q.models import Schedule
        from django_q.tasks import schedule

        schedule(
            TASK,
            pk,
            name=f"analysis-retry:{pk}:{timezone.now().timestamp():.6f}",
            schedule_type=Schedule.ONCE,
            next_run=timezone.now() + timedelta(seconds=delay),
            repeats=-1,  # deleted once it has run
            cluster=settings.TASK_CLUSTER,
        )
        return

    def push() -> None:
        from django_q.tasks import async_task

        async_task(TASK, pk, task_name=f"analyze:{pk}", cluster=settings.TASK_CLUSTER)

    if _orm_broker_shares_our_database():
        push()
    else:
        transaction.on_commit(push)


def _orm_broker_shares_our_database() -> bool:
    from django_q.conf import Conf

    return bool(Conf.ORM) and router.db_for_write(Analysis) == Conf.ORM and not Conf.SYNC
