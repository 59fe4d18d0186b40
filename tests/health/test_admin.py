"""The heartbeat admin is read-only: worker health cannot be faked from it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.fixtures.api import API
from transcription_platform.health.models import WorkerHeartbeat
from transcription_platform.health.tasks import record_heartbeat

pytestmark = pytest.mark.django_db

ADMIN = "admin:transcription_platform_health_workerheartbeat"


def worker_healthy(client: Client) -> bool:
    return client.get(f"{API}/transcriptions/health/").json()["checks"]["worker"]


def test_a_superuser_cannot_add_a_heartbeat(admin_client: Client) -> None:
    assert admin_client.get(reverse(f"{ADMIN}_add")).status_code == 403
    response = admin_client.post(
        reverse(f"{ADMIN}_add"),
        {"cluster": "fake", "last_seen_0": "2030-01-01", "last_seen_1": "00:00:00"},
    )
    assert response.status_code == 403
    assert not WorkerHeartbeat.objects.exists()
    assert worker_healthy(admin_client) is False

    page = admin_client.get(reverse(f"{ADMIN}_changelist"))
    assert page.status_code == 200
    assert reverse(f"{ADMIN}_add") not in page.content.decode()


def test_a_stale_heartbeat_cannot_be_refreshed_or_deleted(admin_client: Client) -> None:
    record_heartbeat()
    stale = timezone.now() - timedelta(hours=1)
    WorkerHeartbeat.objects.update(last_seen=stale)
    beat = WorkerHeartbeat.objects.get()

    change = reverse(f"{ADMIN}_change", args=[beat.pk])
    view = admin_client.get(change)
    assert view.status_code == 200  # staff can still look
    assert beat.cluster in view.content.decode()
    now = timezone.now()
    response = admin_client.post(
        change,
        {
            "cluster": beat.cluster,
            "last_seen_0": now.strftime("%Y-%m-%d"),
            "last_seen_1": now.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 403
    assert (
        admin_client.post(reverse(f"{ADMIN}_delete", args=[beat.pk]), {"post": "yes"}).status_code
        == 403
    )
    beat.refresh_from_db()
    assert beat.last_seen == stale
    assert worker_healthy(admin_client) is False
