"""Run the configured health checks, each bounded by HEALTH_CHECK_TIMEOUT."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.db import connections
from django.utils.module_loading import import_string

from transcription_platform.conf import settings

logger = logging.getLogger("transcription_platform.health")


def check_name(check: Callable[[], bool]) -> str:
    return getattr(check, "check_name", getattr(check, "__name__", repr(check)))


def _in_thread(check: Callable[[], bool]) -> bool:
    try:
        return check() is True
    finally:
        # Checks run in pool threads: close the connections they opened.
        connections.close_all()


def run_checks() -> dict[str, bool]:
    """``{name: healthy}`` for every configured check; failures are logged, not raised."""
    checks = [import_string(path) for path in settings.HEALTH_CHECKS]
    timeout = settings.HEALTH_CHECK_TIMEOUT
    results: dict[str, bool] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, len(checks)), thread_name_prefix="health")
    try:
        futures = {check_name(check): pool.submit(_in_thread, check) for check in checks}
        deadline = time.monotonic() + timeout
        for name, future in futures.items():
            try:
                results[name] = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                logger.error("Health check %r timed out after %ss", name, timeout)
                results[name] = False
            except Exception:
                logger.exception("Health check %r failed", name)
                results[name] = False
            else:
                if not results[name]:
                    logger.error("Health check %r reported unhealthy", name)
    finally:
        # Never wait for a hung check: the response is bounded by the timeout.
        pool.shutdown(wait=False, cancel_futures=True)
    return results


def worker_heartbeats() -> list[dict[str, object]]:
    """The last heartbeat of every django-q2 cluster that ran one, newest first.

    Returns:
        ``[{"cluster", "last_seen", "age_seconds", "fresh"}]``; ``fresh`` says whether it
        is within ``WORKER_HEARTBEAT_MAX_AGE``.
    """
    from django.utils import timezone

    from transcription_platform.health.models import WorkerHeartbeat

    now = timezone.now()
    beats = []
    for beat in WorkerHeartbeat.objects.order_by("-last_seen"):
        age = (now - beat.last_seen).total_seconds()
        beats.append(
            {
                "cluster": beat.cluster,
                "last_seen": beat.last_seen,
                "age_seconds": age,
                "fresh": age <= settings.WORKER_HEARTBEAT_MAX_AGE,
            }
        )
    return beats
