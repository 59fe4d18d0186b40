"""``manage.py worker_probe``: exit 1 unless the task cluster ran its heartbeat recently.

The health check of a ``qcluster`` container: a running process proves little, so this
reads what the ``worker`` readiness check reads — the time a worker last ran the
``transcription_platform.heartbeat`` schedule, which had to go through the cluster's
scheduler, its broker and one of its workers (see the health app). Only the database
is touched; no HTTP server is needed in the worker's container::

    python manage.py worker_probe                 # this cluster (Q_CLUSTER name)
    python manage.py worker_probe --max-age 300
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from transcription_platform.conf import settings


class Command(BaseCommand):
    help = (
        "Exit 1 unless the task cluster ran the heartbeat task within "
        "WORKER_HEARTBEAT_MAX_AGE seconds (a worker container's health check)."
    )
    # Runs every few seconds: it answers for the cluster, not for the system checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cluster",
            help="Cluster name whose heartbeat counts (default: this process's Q_CLUSTER "
            "name, as qcluster would use it).",
        )
        parser.add_argument(
            "--max-age",
            type=float,
            help="Oldest acceptable heartbeat in seconds (default: WORKER_HEARTBEAT_MAX_AGE).",
        )

    def handle(self, *args: Any, cluster: str | None, max_age: float | None, **_: Any) -> None:
        from django_q.conf import Conf

        from transcription_platform.health.models import WorkerHeartbeat

        # The heartbeat task records the name of the cluster that ran it (Conf.PREFIX).
        cluster = cluster or Conf.PREFIX
        max_age = settings.WORKER_HEARTBEAT_MAX_AGE if max_age is None else max_age
        beat = WorkerHeartbeat.objects.filter(cluster=cluster).first()
        if beat is None:
            raise CommandError(
                f"No heartbeat from the cluster {cluster!r} yet: it runs once a minute after "
                "`migrate` created its schedule and a qcluster of that name started."
            )
        age = (timezone.now() - beat.last_seen).total_seconds()
        if age > max_age:
            raise CommandError(
                f"The cluster {cluster!r} last ran the heartbeat {age:.0f} s ago "
                f"(limit {max_age:.0f} s): its scheduler, broker or every worker is stuck."
            )
        self.stdout.write(
            f"Worker probe passed: cluster {cluster!r} ran the heartbeat {age:.0f} s ago"
        )
