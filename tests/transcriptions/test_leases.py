"""Claims are leases: a dead worker's chunk is handed on promptly; cancel and delete stop
the chunk being transcribed.

The recovery sweep is called directly here (django-q2 sync mode runs what it enqueues);
``test_faults.py`` kills real workers.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.fixtures.audio import write_audio
from tests.fixtures.billing import FAKE_ENGINE, FAKE_PRICES
from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.uploads import upload
from tests.openai_server import TRANSCRIPTIONS
from transcription_platform.billing.models import Reservation, ReservationStatus, UsageRecord
from transcription_platform.engines import get_engine
from transcription_platform.transcriptions import services, tasks
from transcription_platform.transcriptions.models import (
    ChunkStatus,
    Transcription,
    TranscriptionChunk,
    TranscriptionStatus,
)

LEASE = 0.4  # renewed every 0.1 s
OPENAI_ENGINE = "transcription_platform.engines.openai.OpenAIEngine"


def platform(**options) -> dict:
    return {
        "ENGINES": {"default": {"BACKEND": FAKE_ENGINE, "OPTIONS": options}},
        "TASK_RETRY_BACKOFF_SECONDS": 0,
        "CLAIM_LEASE_SECONDS": LEASE,
        "PRICES": FAKE_PRICES,
        "BILLING_DEFAULT_LIMITS": {"monthly_audio_seconds": 36_000},
        "RATE_LIMITS": {"transcription_create": None, "user": None},
    }


@pytest.fixture
def forty(tmp_path):
    """40 s of tone: one chunk, four 10 s segments for the fake engine."""
    return write_audio(tmp_path / "forty.wav", [(40.0, 440)], rate=16_000, channels=1)


def processing_job(auth_client, path, django_capture_on_commit_callbacks) -> str:
    """A job uploaded, enqueued nowhere (the test runs its steps)."""
    with django_capture_on_commit_callbacks(execute=False):
        response = upload(auth_client, path)
    assert response.status_code == 201, response.content
    return response.json()["id"]


def lapse(**filters) -> None:
    """Make the lease of the matching running chunks look a minute old."""
    old = timezone.now() - timedelta(minutes=1)
    TranscriptionChunk.objects.filter(**filters).update(
        status=ChunkStatus.RUNNING, claimed_at=old, heartbeat_at=old
    )


@pytest.mark.django_db
class TestRecoverySweep:
    def test_a_chunk_whose_lease_lapsed_is_handed_on_and_the_job_completes(
        self, settings, auth_client, forty, django_capture_on_commit_callbacks
    ):
        settings.TRANSCRIPTION_PLATFORM = platform(chunk_seconds=15)
        pk = processing_job(auth_client, forty, django_capture_on_commit_callbacks)
        transcription = services.start_processing(pk)
        tasks._ensure_chunks(transcription, get_engine(), forty.as_posix())
        lapse(transcription_id=pk, index=0)

        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.recover_stuck_transcriptions() == {"requeued": 1, "failed": 0}

        done = Transcription.objects.get(pk=pk)
        assert done.status == TranscriptionStatus.COMPLETED
        first = TranscriptionChunk.objects.get(transcription_id=pk, index=0)
        assert first.attempts == 1  # released without counting, claimed once by the rerun

    def test_a_live_lease_is_left_alone(
        self, settings, auth_client, forty, django_capture_on_commit_callbacks
    ):
        settings.TRANSCRIPTION_PLATFORM = {**platform(chunk_seconds=15), "CLAIM_LEASE_SECONDS": 60}
        pk = processing_job(auth_client, forty, django_capture_on_commit_callbacks)
        transcription = services.start_processing(pk)
        tasks._ensure_chunks(transcription, get_engine(), forty.as_posix())
        now = timezone.now()
        TranscriptionChunk.objects.filter(transcription_id=pk, index=0).update(
            status=ChunkStatus.RUNNING, claimed_at=now - timedelta(minutes=30), heartbeat_at=now
        )
        assert tasks.recover_stuck_transcriptions() == {"requeued": 0, "failed": 0}
        assert Transcription.objects.get(pk=pk).status == TranscriptionStatus.PROCESSING
        assert get_engine().calls == []

    def test_a_chunk_that_killed_its_worker_too_often_fails_the_job(
        self, settings, auth_client, forty, django_capture_on_commit_callbacks
    ):
        settings.TRANSCRIPTION_PLATFORM = {**platform(), "TASK_MAX_ATTEMPTS": 3}
        pk = processing_job(auth_client, forty, django_capture_on_commit_callbacks)
        transcription = services.start_processing(pk)
        tasks._ensure_chunks(transcription, get_engine(), forty.as_posix())
        lapse(transcription_id=pk)
        TranscriptionChunk.objects.filter(transcription_id=pk).update(attempts=3)

        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.recover_stuck_transcriptions() == {"requeued": 0, "failed": 1}

        failed = Transcription.objects.get(pk=pk)
        assert (failed.status, failed.error_code) == (TranscriptionStatus.FAILED, "worker_lost")
        assert Reservation.objects.get().status == ReservationStatus.RELEASED

    def test_a_job_whose_planner_died_is_planned_again(
        self, settings, auth_client, forty, django_capture_on_commit_callbacks
    ):
        settings.TRANSCRIPTION_PLATFORM = platform()
        pk = processing_job(auth_client, forty, django_capture_on_commit_callbacks)
        services.start_processing(pk)  # then the worker died before any chunk existed
        Transcription.objects.filter(pk=pk).update(
            heartbeat_at=timezone.now() - timedelta(minutes=1)
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert tasks.recover_stuck_transcriptions() == {"requeued": 1, "failed": 0}
        assert Transcription.objects.get(pk=pk).status == TranscriptionStatus.COMPLETED

    def test_the_schedule_runs_every_minute(self):
        from django.core.management import call_command
        from django_q.models import Schedule

        call_command("migrate", verbosity=0)
        schedule = Schedule.objects.get(name=tasks.RECOVERY_SCHEDULE_NAME)
        assert (schedule.schedule_type, schedule.minutes) == (Schedule.MINUTES, 1)


def run_in_background(pk: str) -> threading.Thread:
    thread = threading.Thread(target=tasks.process_transcription, args=(pk,), daemon=True)
    thread.start()
    return thread


def wait_until_running(pk: str) -> None:
    deadline = time.monotonic() + 20
    while not TranscriptionChunk.objects.filter(
        transcription_id=pk, status=ChunkStatus.RUNNING
    ).exists():
        assert time.monotonic() < deadline, "the chunk never started"
        time.sleep(0.05)
    time.sleep(0.3)  # into the engine's first segment


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("stop", ["cancel", "delete"])
def test_cancel_and_delete_stop_the_chunk_being_transcribed(stop, settings, user, forty):
    # One 40 s chunk that takes the fake engine 8 s: four segments of 2 s each.
    settings.TRANSCRIPTION_PLATFORM = platform(latency=8.0)
    audio = services.AudioFile(path=forty, name="forty.wav", size_bytes=forty.stat().st_size)
    transcription, _ = services.create_from_file(user, audio, enqueue=False)
    pk = str(transcription.pk)
    worker = run_in_background(pk)
    wait_until_running(pk)

    stopped_at = time.monotonic()
    transcription = Transcription.objects.get(pk=pk)
    if stop == "cancel":
        services.cancel(transcription)
    else:
        services.delete_transcription(transcription)
    worker.join(timeout=10)
    took = time.monotonic() - stopped_at

    assert not worker.is_alive()
    # Stopped at the end of the segment under way (2 s), not after the whole chunk (the
    # ~7 s left of it): 6 s leaves room for a loaded CI machine and still tells the two.
    assert took < 6.0, took
    assert len(get_engine().calls) == 1
    assert not TranscriptionChunk.objects.filter(
        transcription_id=pk, status=ChunkStatus.DONE
    ).exists()
    # Nothing charged: the reservation is released and no usage is recorded.
    assert not UsageRecord.objects.exists()
    assert Reservation.objects.get().status == ReservationStatus.RELEASED
    if stop == "cancel":
        assert Transcription.objects.get(pk=pk).status == TranscriptionStatus.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_the_wait_for_a_remote_engine(settings, user, forty, openai_server):
    # The provider would answer in 20 s; the worker stops waiting once it hears the cancel.
    openai_server.enqueue(TRANSCRIPTIONS, json={"text": "too late"}, delay=20)
    remote = {"base_url": openai_server.base_url, "api_key": "sk-test", "upload_format": "wav"}
    settings.TRANSCRIPTION_PLATFORM = {
        **platform(),
        "ENGINES": {"default": {"BACKEND": OPENAI_ENGINE, "OPTIONS": remote}},
    }
    audio = services.AudioFile(path=forty, name="forty.wav", size_bytes=forty.stat().st_size)
    transcription, _ = services.create_from_file(user, audio, enqueue=False)
    pk = str(transcription.pk)
    worker = run_in_background(pk)
    wait_until_running(pk)
    deadline = time.monotonic() + 20
    while not openai_server.requests_to(TRANSCRIPTIONS):  # until the request is out
        assert time.monotonic() < deadline, "the engine never sent its request"
        time.sleep(0.05)

    stopped_at = time.monotonic()
    services.cancel(Transcription.objects.get(pk=pk))
    worker.join(timeout=10)
    took = time.monotonic() - stopped_at
    assert not worker.is_alive()
    assert took < 6.0, took  # a lease renewal and a poll (0.5 s), not the 20 s answer
    assert Transcription.objects.get(pk=pk).status == TranscriptionStatus.CANCELLED
    assert not TranscriptionChunk.objects.filter(
        transcription_id=pk, status=ChunkStatus.DONE
    ).exists()
    assert not UsageRecord.objects.exists()
    assert len(openai_server.requests_to(TRANSCRIPTIONS)) == 1


@pytest.mark.django_db
def test_a_result_that_arrives_after_the_cancel_is_discarded(settings, forty, user):
    """An engine that reports no progress (a remote one) finishes its request; its
    answer is not stored and no further chunk runs."""
    settings.TRANSCRIPTION_PLATFORM = platform(chunk_seconds=15)
    transcription = make_transcription(user, status=TranscriptionStatus.PROCESSING)
    chunk = TranscriptionChunk.objects.create(transcription=transcription, index=0, start=0, end=1)
    claimed_at = tasks._claim(chunk)
    assert claimed_at is not None
    Transcription.objects.filter(pk=transcription.pk).update(status=TranscriptionStatus.CANCELLED)
    result = get_engine().transcribe(tasks.AudioClip(forty.as_posix(), 0, 1))
    assert tasks._store_result(chunk, claimed_at, result, chain=True) is tasks.Stored.DISCARDED
    chunk.refresh_from_db()
    assert chunk.status == ChunkStatus.RUNNING
    assert chunk.result is None
