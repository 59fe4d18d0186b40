from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone
from django_q.models import Schedule

from tests.fixtures.api import API
from transcription_platform.health.models import WorkerHeartbeat
from transcription_platform.health.tasks import HEARTBEAT_SCHEDULE_NAME, record_heartbeat

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = "transcription_platform.health.checks"


def slow_check() -> bool:
    time.sleep(5)
    return True


def exploding_check() -> bool:
    raise RuntimeError("secret connection string postgres://user:hunter2@db")


def test_healthy_when_every_check_passes(client: Client):
    record_heartbeat()
    response = client.get(f"{API}/transcriptions/health/")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "healthy",
        "checks": {"database": True, "cache": True, "storage": True, "worker": True},
    }


def test_no_worker_heartbeat_is_503(client: Client):
    response = client.get(f"{API}/transcriptions/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["worker"] is False
    assert body["checks"]["database"] is True


def test_stale_heartbeat_turns_worker_false(client: Client):
    record_heartbeat()
    WorkerHeartbeat.objects.update(last_seen=timezone.now() - timedelta(seconds=151))
    assert client.get(f"{API}/transcriptions/health/").json()["checks"]["worker"] is False


@override_settings(
    STORAGES={
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": "/proc/forbidden-health-storage"},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
)
def test_broken_storage_is_503_without_leaking_details(client: Client, caplog):
    record_heartbeat()
    response = client.get(f"{API}/transcriptions/health/")
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": True,
        "cache": True,
        "storage": False,
        "worker": True,
    }
    assert "forbidden" not in response.content.decode()
    assert any("storage" in r.getMessage() for r in caplog.records)


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
        }
    },
    RATELIMIT_ENABLE=False,
)
def test_unreachable_cache_is_503(client: Client):
    record_heartbeat()
    response = client.get(f"{API}/transcriptions/health/")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] is False


def test_checks_are_pluggable_and_bounded_by_a_timeout(client: Client, caplog):
    with override_settings(
        TRANSCRIPTION_PLATFORM={
            "HEALTH_CHECKS": [
                f"{CHECKS}.database",
                f"{__name__}.slow_check",
                f"{__name__}.exploding_check",
            ],
            "HEALTH_CHECK_TIMEOUT": 0.5,
        }
    ):
        started = time.monotonic()
        response = client.get(f"{API}/transcriptions/health/")
        elapsed = time.monotonic() - started
    assert elapsed < 2
    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": True,
        "slow_check": False,
        "exploding_check": False,
    }
    assert "hunter2" not in response.content.decode()
    assert any("timed out" in r.getMessage() for r in caplog.records)


def test_healthz_is_plain_liveness(client: Client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert client.post("/healthz").status_code == 405


def test_migrate_installs_one_heartbeat_schedule():
    schedule = Schedule.objects.get(name=HEARTBEAT_SCHEDULE_NAME)
    assert schedule.func == "transcription_platform.health.tasks.record_heartbeat"
    assert schedule.schedule_type == Schedule.MINUTES
    assert schedule.minutes == 1
