"""``manage.py worker_probe``: the worker container's health check."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_q.conf import Conf

from transcription_platform.health.models import WorkerHeartbeat
from transcription_platform.health.tasks import record_heartbeat

pytestmark = pytest.mark.django_db


def worker_probe(**options: object) -> str:
    out = StringIO()
    call_command("worker_probe", stdout=out, **options)
    return out.getvalue()


def test_no_heartbeat_yet_fails() -> None:
    with pytest.raises(CommandError, match="No heartbeat from the cluster"):
        worker_probe()


def test_a_fresh_heartbeat_of_this_cluster_passes() -> None:
    record_heartbeat()
    assert f"cluster {Conf.PREFIX!r} ran the heartbeat" in worker_probe()


def test_a_stale_heartbeat_fails() -> None:
    WorkerHeartbeat.objects.create(
        cluster=Conf.PREFIX, last_seen=timezone.now() - timedelta(seconds=600)
    )
    with pytest.raises(CommandError, match="600 s ago"):
        worker_probe()
    assert "ran the heartbeat" in worker_probe(max_age=900)


def test_another_clusters_heartbeat_does_not_count() -> None:
    record_heartbeat(cluster="gpu")
    with pytest.raises(CommandError, match="No heartbeat"):
        worker_probe()
    assert "'gpu'" in worker_probe(cluster="gpu")
