"""An engine that answers 429, 5xx, too late or with garbage, through the whole pipeline.

The real OpenAI engine (the ``openai`` SDK over HTTP) against tests/openai_server.py on
127.0.0.1; django-q2's scheduler starts each retry once due, as ``qcluster`` does.
Every job ends retried-then-completed, or failed with a message a user can read —
never stuck, never an ``internal_error``, never charged when it failed.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.fixtures.audio import write_audio
from tests.fixtures.billing import OPENAI_ENGINE
from tests.fixtures.uploads import upload
from tests.openai_server import TRANSCRIPTIONS, error_json
from transcription_platform.billing.models import Reservation, ReservationStatus, UsageRecord
from transcription_platform.transcriptions.models import Transcription, TranscriptionStatus

pytestmark = pytest.mark.django_db

VERBOSE = {
    "task": "transcribe",
    "language": "english",
    "duration": 6.0,
    "text": "Hello world.",
    "segments": [{"id": 0, "start": 0.5, "end": 2.5, "text": " Hello world."}],
    "usage": {"type": "duration", "seconds": 6},
}


@pytest.fixture
def remote(settings, openai_server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    settings.TRANSCRIPTION_PLATFORM = {
        "ENGINES": {
            "default": {
                "BACKEND": OPENAI_ENGINE,
                "OPTIONS": {
                    "base_url": openai_server.base_url,
                    "api_key": "sk-test",
                    "timeout": 0.5,
                },
            }
        },
        "TASK_MAX_ATTEMPTS": 4,
        "TASK_RETRY_BACKOFF_SECONDS": 1,
        "RATE_LIMITS": {"transcription_create": None, "user": None},
        "PRICES": {"whisper-1": [{"effective_from": "2020-01-01", "per_audio_minute": "0.006"}]},
        "BILLING_DEFAULT_LIMITS": {"monthly_audio_seconds": 3600},
    }
    return openai_server


@pytest.fixture
def six(tmp_path):
    return write_audio(tmp_path / "six.wav", [(6.0, 440)], rate=16_000, channels=1)


def run_to_the_end(auth_client, path, captured) -> Transcription:
    """Upload, then run django-q2's scheduler on every retry as it falls due."""
    from django_q.brokers import get_broker
    from django_q.models import Schedule
    from django_q.scheduler import scheduler

    with captured(execute=True):
        response = upload(auth_client, path)
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    for _ in range(10):
        if Transcription.objects.get(pk=pk).status != TranscriptionStatus.PROCESSING:
            break
        assert Schedule.objects.exists(), "processing, yet no retry is scheduled"
        Schedule.objects.update(next_run=timezone.now() - timedelta(seconds=1))
        with captured(execute=True):
            scheduler(broker=get_broker())
    return Transcription.objects.get(pk=pk)


def test_429_then_5xx_then_a_timeout_are_retried_and_the_job_completes_billed_once(
    remote, auth_client, six, django_capture_on_commit_callbacks
):
    remote.enqueue(TRANSCRIPTIONS, 429, json=error_json("Slow down"), headers={"Retry-After": "1"})
    remote.enqueue(TRANSCRIPTIONS, 502, json=error_json("Bad gateway", "server_error"))
    remote.enqueue(TRANSCRIPTIONS, json=VERBOSE, delay=1.5)  # answers after the 0.5 s timeout
    remote.enqueue(TRANSCRIPTIONS, json=VERBOSE)
    job = run_to_the_end(auth_client, six, django_capture_on_commit_callbacks)
    assert job.status == TranscriptionStatus.COMPLETED, job.error
    assert job.text == "Hello world."
    assert len(remote.requests_to(TRANSCRIPTIONS)) == 4
    assert UsageRecord.objects.filter(object_id=str(job.pk)).count() == 1
    assert Reservation.objects.get().status == ReservationStatus.SETTLED


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        ({"status": 200, "body": "<html>upstream proxy error</html>"}, "engine_"),
        ({"status": 200, "json": {"unexpected": True}}, "engine_"),
        ({"status": 503, "json": error_json("Overloaded", "server_error")}, "engine_"),
    ],
    ids=["html-instead-of-json", "json-without-text", "503-every-time"],
)
def test_garbage_or_an_engine_that_never_recovers_fails_with_a_message_uncharged(
    answer, code, remote, auth_client, six, django_capture_on_commit_callbacks
):
    remote.enqueue(TRANSCRIPTIONS, times=10, **answer)
    job = run_to_the_end(auth_client, six, django_capture_on_commit_callbacks)
    assert job.status == TranscriptionStatus.FAILED
    assert job.error_code.startswith(code), job.error
    assert job.error_code != "internal_error"
    assert len(job.error_message) > 20
    assert 1 <= len(remote.requests_to(TRANSCRIPTIONS)) <= 4  # TASK_MAX_ATTEMPTS
    assert not UsageRecord.objects.exists()
    assert Reservation.objects.get().status == ReservationStatus.RELEASED
