"""django-q2 tasks of the analysis step. They take ids and are safe to re-deliver.

analyze_transcription(transcription_id)
    claim the pending analysis and run it (see services.run_analysis).
"""

from __future__ import annotations

from typing import Any

from transcription_platform.analysis.models import Analysis
from transcription_platform.queueing import enqueue_task

TASK = "transcription_platform.analysis.tasks.analyze_transcription"


def analyze_transcription(transcription_id: str) -> None:
    """Run the pending analysis of one transcription (nothing if none is pending)."""
    from transcription_platform.analysis import services

    services.run_analysis(transcription_id)


def enqueue_analysis(transcription_id: Any, *, delay: float = 0.0) -> None:
    """Enqueue the analysis task, now or after ``delay`` seconds.

    Through `transcription_platform.queueing.enqueue_task`: now, in the caller's
    transaction (or after it commits); later, as a one-off django-q2 schedule, so no
    worker sleeps through a provider's Retry-After.

    Args:
        transcription_id: The transcription whose analysis is pending.
        delay: Seconds to wait first.
    """
    pk = str(transcription_id)
    name = f"analysis-retry:{pk}" if delay > 0 else f"analyze:{pk}"
    enqueue_task(TASK, pk, task_name=name, model=Analysis, delay=delay)
