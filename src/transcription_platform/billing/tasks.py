"""django-q2 tasks of the billing app (no arguments: they scan, they take no instances)."""

from __future__ import annotations

from transcription_platform.billing import services


def reconcile_reservations() -> int:
    """Close reservations of jobs that finished while billing missed the signal."""
    return services.reconcile_reservations()
