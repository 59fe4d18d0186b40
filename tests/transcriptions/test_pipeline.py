"""The django-q2 pipeline in sync mode with the FakeEngine."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.fixtures.api import API
from tests.fixtures.audio import write_audio
from tests.fixtures.storage import stored_files
from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.uploads import SPEECH_SAMPLE, upload
from transcription_platform import signals
from transcription_platform.engines import audio, get_engine
from transcription_platform.queueing import queue_workers
from transcription_platform.retry import backoff_delay
from transcription_platform.transcriptions import services, tasks
from transcription_platform.transcriptions.models import (
    ChunkStatus,
    Transcription,
    TranscriptionChunk,
    TranscriptionStatus,
)

pytestmark = pytest.mark.django_db

FAKE = "transcription_platform.engines.fake.FakeEngine"


def engine_settings(**options) -> dict:
    return {
        "ENGINES": {"default": {"BACKEND": FAKE, "OPTIONS": options}},
        "TASK_RETRY_BACKOFF_SECONDS": 0,
    }


@pytest.fixture
def sent() -> Counter:
    """Counts lifecycle signals sent during the test."""
    counts: Counter = Counter()
    receivers = {}
    for name in ("created", "started", "completed", "failed", "cancelled"):
        signal = getattr(signals, f"transcription_{name}")

        def receiver(sender, transcription, _name=name, **kwargs):
            counts[_name] += 1

        receivers[name] = receiver
        signal.connect(receiver, weak=False)
    yield counts
    for name, receiver in receivers.items():
        getattr(signals, f"transcription_{name}").disconnect(receiver)


@pytest.fixture
def chunked_wav(tmp_path):
    """Three sounding parts split by silences: with CHUNK_SECONDS=5 → three chunks."""
    return write_audio(
        tmp_path / "parts.wav",
        [(4.0, 440), (0.6, None), (4.0, 550), (0.6, None), (4.0, 660)],
    )


def run_upload(client, path, captured, **fields) -> Transcription:
    with captured(execute=True):
        response = upload(client, path, **fields)
    assert response.status_code == 201, response.content
    return Transcription.objects.get(pk=response.json()["id"])


def test_upload_runs_to_completed(
    auth_client, tone_wav, django_capture_on_commit_callbacks, sent, media_root
):
    transcription = run_upload(auth_client, tone_wav, django_capture_on_commit_callbacks)
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert transcription.progress == 100
    assert transcription.text
    assert transcription.segments[0]["start"] == pytest.approx(0.0, abs=0.5)
    assert transcription.segments[-1]["end"] <= 6.1
    assert transcription.model == "fake-1"
    assert transcription.detected_language == "en"
    assert transcription.usage["audio_seconds"] == pytest.approx(6.0, abs=0.1)
    assert transcription.started_at <= transcription.completed_at
    assert sent == Counter(created=1, started=1, completed=1)
    # The audio stays until the transcription is deleted.
    assert len(stored_files(media_root)) == 1
    detail = auth_client.get(f"{API}/transcriptions/{transcription.pk}").json()
    assert detail["status"] == "completed"
    assert detail["segments"][0]["words"]


@pytest.fixture
def decodes(monkeypatch) -> list[tuple]:
    """The (path, start, end) of every decoding pass over a file."""
    seen: list[tuple] = []
    original = audio.iter_pcm

    def counting(path, start=0.0, end=None):
        seen.append((path, start, end))
        return original(path, start, end)

    monkeypatch.setattr(audio, "iter_pcm", counting)
    return seen


def test_a_job_of_one_chunk_decodes_its_file_once(
    auth_client, tone_wav, chunked_wav, django_capture_on_commit_callbacks, decodes
):
    transcription = run_upload(auth_client, tone_wav, django_capture_on_commit_callbacks)
    assert transcription.status == TranscriptionStatus.COMPLETED
    # The plan's pass; the engine got its samples with the clip.
    assert len(decodes) == 1
    (clip,) = get_engine().calls
    assert clip.decoded is not None
    assert transcription.usage["audio_seconds"] == pytest.approx(6.0, abs=0.1)
    # Several chunks: each is decoded by whoever transcribes it (nothing is held).
    decodes.clear()
    with override_settings(TRANSCRIPTION_PLATFORM={**engine_settings(), "CHUNK_SECONDS": 5}):
        transcription = run_upload(auth_client, chunked_wav, django_capture_on_commit_callbacks)
        calls = get_engine().calls
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert len(calls) == 3
    assert all(c.decoded is None for c in calls)
    assert len(decodes) == 1 + 3


def test_speech_sample_end_to_end(auth_client, django_capture_on_commit_callbacks):
    transcription = run_upload(auth_client, SPEECH_SAMPLE, django_capture_on_commit_callbacks)
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert transcription.duration == pytest.approx(36, abs=2)


def test_retryable_error_then_success(auth_client, tone_wav, django_capture_on_commit_callbacks):
    with override_settings(TRANSCRIPTION_PLATFORM=engine_settings(failures=["retryable", None])):
        transcription = run_upload(auth_client, tone_wav, django_capture_on_commit_callbacks)
        assert len(get_engine().calls) == 2
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert TranscriptionChunk.objects.get().attempts == 2


def test_retryable_errors_exhaust_attempts(
    auth_client, tone_wav, django_capture_on_commit_callbacks, sent
):
    config = {**engine_settings(failures=["retryable"] * 10), "TASK_MAX_ATTEMPTS": 3}
    with override_settings(TRANSCRIPTION_PLATFORM=config):
        transcription = run_upload(auth_client, tone_wav, django_capture_on_commit_callbacks)
        assert len(get_engine().calls) == 3
    assert transcription.status == TranscriptionStatus.FAILED
    assert transcription.error_code == "engine_unavailable"
    assert "after 3 attempts" in transcription.error_message
    assert sent["failed"] == 1


def test_a_retry_after_is_waited_out_by_a_schedule_not_a_sleeping_worker(
    auth_client, tone_wav, django_capture_on_commit_callbacks, sent
):
    from django_q.brokers import get_broker
    from django_q.models import Schedule
    from django_q.scheduler import scheduler

    config = {
        **engine_settings(failures=["retryable", None], retry_after=42.0),
        "TASK_MAX_BACKOFF_SECONDS": 300,
    }
    before = timezone.now()
    with override_settings(TRANSCRIPTION_PLATFORM=config):
        started = time.monotonic()
        transcription = run_upload(auth_client, tone_wav, django_capture_on_commit_callbacks)
        assert time.monotonic() - started < 30  # nobody slept through the 42 s

        # The chunk is handed back and waits, pending, for a one-off schedule.
        assert transcription.status == TranscriptionStatus.PROCESSING
        chunk = TranscriptionChunk.objects.get(transcription=transcription)
        assert (chunk.status, chunk.attempts, chunk.claimed_at) == (ChunkStatus.PENDING, 1, None)
        [retry] = Schedule.objects.filter(func=f"{tasks.TASKS}.transcribe_chunk")
        assert retry.schedule_type == Schedule.ONCE
        assert retry.next_run >= before + timedelta(seconds=42)
        assert len(get_engine().calls) == 1

        # django-q2's scheduler (as qcluster runs it) starts the retry once it is due.
        Schedule.objects.filter(pk=retry.pk).update(next_run=timezone.now() - timedelta(seconds=1))
        with django_capture_on_commit_callbacks(execute=True):
            scheduler(broker=get_broker())
        assert len(get_engine().calls) == 2

    transcription.refresh_from_db()
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert TranscriptionChunk.objects.get().attempts == 2
    assert not Schedule.objects.filter(pk=retry.pk).exists()
    assert sent["completed"] == 1


def test_a_user_retry_restarts_a_chunk_that_was_waiting_for_its_retry(
    auth_client, tone_wav, django_capture_on_commit_callbacks
):
    config = engine_settings(failures=["retryable", None], retry_after=42.0)
    with override_settings(TRANSCRIPTION_PLATFORM=config):
        transcription = run_upload(auth_client, tone_wav, django_capture_on_commit_callbacks)
        chunk = TranscriptionChunk.objects.get(transcription=transcription)
        assert (chunk.status, chunk.attempts) == (ChunkStatus.PENDING, 1)
        services.fail(transcription.pk, "engine_rejected", "Another chunk failed for good.")

        with django_capture_on_commit_callbacks(execute=True):
            response = auth_client.post(f"{API}/transcriptions/{transcription.pk}/retry")
        assert response.status_code == 200

    transcription.refresh_from_db()
    assert transcription.status == TranscriptionStatus.COMPLETED
    # The retry started the chunk's attempts afresh: one call, one attempt.
    assert TranscriptionChunk.objects.get().attempts == 1


def test_backoff_honours_retry_after_and_caps():
    with override_settings(
        TRANSCRIPTION_PLATFORM={"TASK_RETRY_BACKOFF_SECONDS": 2, "TASK_MAX_BACKOFF_SECONDS": 30}
    ):
        assert backoff_delay(1, None) == 2
        assert backoff_delay(3, None) == 8
        assert backoff_delay(1, 12.5) == 12.5
        assert backoff_delay(10, None) == 30
        assert backoff_delay(1, 3600) == 30


def test_permanent_error_fails_with_a_readable_reason(
    auth_client, tone_wav, django_capture_on_commit_callbacks, media_root
):
    with override_settings(TRANSCRIPTION_PLATFORM=engine_settings(failures=["permanent"])):
        transcription = run_upload(auth_client, tone_wav, django_capture_on_commit_callbacks)
        assert len(get_engine().calls) == 1  # never retried
    assert transcription.status == TranscriptionStatus.FAILED
    assert transcription.error_code == "engine_rejected"
    assert transcription.error_message
    assert len(stored_files(media_root)) == 1  # nothing lost
    body = auth_client.get(f"{API}/transcriptions/{transcription.pk}").json()
    assert body["error"]["code"] == "engine_rejected"


def test_unexpected_crash_fails_without_leaking(
    auth_client, tone_wav, django_capture_on_commit_callbacks, monkeypatch
):
    def crash(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(tasks, "stitch", crash)
    transcription = run_upload(auth_client, tone_wav, django_capture_on_commit_callbacks)
    assert transcription.status == TranscriptionStatus.FAILED
    assert transcription.error_code == "internal_error"
    assert "secret" not in transcription.error_message


@pytest.mark.parametrize("parallel", [False, True])
def test_chunks_fan_out_and_a_retry_redoes_only_missing_chunks(
    auth_client, chunked_wav, django_capture_on_commit_callbacks, parallel
):
    # First run: the third chunk fails for good; the first two are stored.
    config = {
        **engine_settings(parallel_chunks=parallel, fail_on_offsets={}),
        "CHUNK_SECONDS": 5,
    }
    with override_settings(TRANSCRIPTION_PLATFORM=config):
        # Planned as the pipeline plans: parallel chunks come in a multiple of the workers.
        probe_plan = get_engine().plan(str(chunked_wav), workers=queue_workers())
    chunk_count = len(probe_plan)
    if parallel:
        assert chunk_count >= 3
        assert chunk_count % queue_workers() == 0
    else:
        assert chunk_count == 3
    third_start = probe_plan[-1].start  # the last chunk

    config["ENGINES"]["default"]["OPTIONS"]["fail_on_offsets"] = {third_start: "permanent"}
    with override_settings(TRANSCRIPTION_PLATFORM=config):
        transcription = run_upload(auth_client, chunked_wav, django_capture_on_commit_callbacks)
        assert transcription.status == TranscriptionStatus.FAILED
        chunks = list(transcription.chunks.all())
        assert [c.status for c in chunks] == [ChunkStatus.DONE] * (chunk_count - 1) + [
            ChunkStatus.RUNNING
        ]
        first_results = [c.result for c in chunks[:-1]]
        engine = get_engine()
        assert len(engine.calls) == chunk_count

        with django_capture_on_commit_callbacks(execute=True):
            response = auth_client.post(f"{API}/transcriptions/{transcription.pk}/retry")
        assert response.status_code == 200
        assert response.json()["status"] == "pending"
        # Only the missing chunk went to the engine again.
        assert len(engine.calls) == chunk_count + 1
        assert engine.calls[-1].start == third_start

    transcription.refresh_from_db()
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert [c.result for c in transcription.chunks.all()[: chunk_count - 1]] == first_results
    starts = [s["start"] for s in transcription.segments]
    assert starts == sorted(starts)
    assert any(s >= third_start for s in starts)  # offsets are global, not per chunk
    assert [s["id"] for s in transcription.segments] == list(range(len(starts)))
    assert transcription.duration == pytest.approx(13.2, abs=0.1)


def test_progress_advances_as_chunks_finish(
    auth_client, chunked_wav, django_capture_on_commit_callbacks, monkeypatch
):
    seen = []
    original = services.set_progress

    def spy(pk, progress, **kwargs):
        seen.append(progress)
        original(pk, progress, **kwargs)

    monkeypatch.setattr(services, "set_progress", spy)
    # A second per chunk: its reports come after PROGRESS_FIRST_WRITE_SECONDS.
    platform = {**engine_settings(latency=1.0), "CHUNK_SECONDS": 5}
    with override_settings(TRANSCRIPTION_PLATFORM=platform):
        transcription = run_upload(auth_client, chunked_wav, django_capture_on_commit_callbacks)
    assert transcription.status == TranscriptionStatus.COMPLETED
    chunks = transcription.chunks.count()
    assert chunks == 3
    # Planned, then the engine's reports within each chunk and each stored chunk but
    # the last (which completes the job: 100): always forward, never the same value
    # twice, more often than once per chunk.
    assert seen[0] == tasks.PLANNED_PROGRESS
    assert seen == sorted(set(seen))
    assert len(seen) > 1 + chunks
    assert seen[-1] < 100
    assert transcription.progress == 100


def test_redelivered_task_is_a_no_op(
    auth_client, tone_wav, django_capture_on_commit_callbacks, sent
):
    transcription = run_upload(auth_client, tone_wav, django_capture_on_commit_callbacks)
    completed_at = transcription.completed_at
    tasks.process_transcription(str(transcription.pk))
    tasks.transcribe_chunk(str(transcription.pk), 0)
    tasks.finalize(str(transcription.pk))
    transcription.refresh_from_db()
    assert transcription.completed_at == completed_at
    assert sent["completed"] == 1


def test_resumes_a_job_whose_worker_died(auth_client, tone_wav, django_capture_on_commit_callbacks):
    from django_q.conf import Conf

    with django_capture_on_commit_callbacks(execute=False):
        pk = upload(auth_client, tone_wav).json()["id"]
    # A worker took the job, claimed the chunk and died.
    services.start_processing(pk)
    transcription = Transcription.objects.get(pk=pk)
    with override_settings(TRANSCRIPTION_PLATFORM=engine_settings()):
        engine = get_engine()
        tasks._ensure_chunks(transcription, engine, transcription.audio.path)
        TranscriptionChunk.objects.filter(transcription_id=pk).update(
            status=ChunkStatus.RUNNING,
            claimed_at=timezone.now() - timedelta(seconds=Conf.TIMEOUT + 1),
        )
        tasks.process_transcription(pk)  # django-q2 re-delivers after `retry`
    transcription.refresh_from_db()
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert transcription.attempts == 2


def test_a_live_claim_is_not_stolen(auth_client, tone_wav, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        pk = upload(auth_client, tone_wav).json()["id"]
    services.start_processing(pk)
    transcription = Transcription.objects.get(pk=pk)
    tasks._ensure_chunks(transcription, get_engine(), transcription.audio.path)
    TranscriptionChunk.objects.filter(transcription_id=pk).update(
        status=ChunkStatus.RUNNING, claimed_at=timezone.now()
    )
    tasks.process_transcription(pk)
    transcription.refresh_from_db()
    assert transcription.status == TranscriptionStatus.PROCESSING  # the other worker finishes it
    assert get_engine().calls == []


def test_stuck_jobs_are_recovered(auth_client, tone_wav, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        stuck = upload(auth_client, tone_wav).json()["id"]
        lost = upload(auth_client, tone_wav).json()["id"]
        fresh = upload(auth_client, tone_wav).json()["id"]
    services.start_processing(stuck)
    services.start_processing(lost)
    old = timezone.now() - timedelta(hours=2)
    Transcription.objects.filter(pk__in=[stuck, lost]).update(updated_at=old)
    Transcription.objects.filter(pk=lost).update(attempts=5)

    with override_settings(TRANSCRIPTION_PLATFORM={**engine_settings(), "TASK_MAX_ATTEMPTS": 5}):
        assert tasks.recover_stuck_transcriptions() == {"requeued": 1, "failed": 1}

    statuses = dict(Transcription.objects.values_list("pk", "status"))
    assert statuses[Transcription.objects.get(pk=stuck).pk] == TranscriptionStatus.COMPLETED
    lost_row = Transcription.objects.get(pk=lost)
    assert lost_row.status == TranscriptionStatus.FAILED
    assert lost_row.error_code == "worker_lost"
    assert (
        Transcription.objects.get(pk=fresh).status == TranscriptionStatus.PENDING
    )  # not stale yet


def test_pending_job_whose_enqueue_was_lost_is_recovered(
    auth_client, tone_wav, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        pk = upload(auth_client, tone_wav).json()["id"]
    Transcription.objects.filter(pk=pk).update(updated_at=timezone.now() - timedelta(hours=2))
    assert tasks.recover_stuck_transcriptions()["requeued"] == 1
    assert Transcription.objects.get(pk=pk).status == TranscriptionStatus.COMPLETED


def test_cancelled_job_is_not_processed(
    auth_client, tone_wav, django_capture_on_commit_callbacks, sent
):
    with django_capture_on_commit_callbacks(execute=False):
        pk = upload(auth_client, tone_wav).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.post(f"{API}/transcriptions/{pk}/cancel").status_code == 200
    tasks.process_transcription(pk)
    assert Transcription.objects.get(pk=pk).status == TranscriptionStatus.CANCELLED
    assert get_engine().calls == []
    assert sent["cancelled"] == 1


def test_cancel_while_processing_stops_before_the_next_chunk(
    auth_client, chunked_wav, django_capture_on_commit_callbacks, monkeypatch
):
    original = services.set_progress

    def cancel_after_first_chunk(pk, progress, **kwargs):
        original(pk, progress, **kwargs)
        if progress > tasks.PLANNED_PROGRESS:
            services.cancel(Transcription.objects.get(pk=pk))

    monkeypatch.setattr(services, "set_progress", cancel_after_first_chunk)
    with override_settings(TRANSCRIPTION_PLATFORM={**engine_settings(), "CHUNK_SECONDS": 5}):
        transcription = run_upload(auth_client, chunked_wav, django_capture_on_commit_callbacks)
        assert len(get_engine().calls) == 1
    assert transcription.status == TranscriptionStatus.CANCELLED


@pytest.mark.parametrize(
    ("start", "action"),
    [
        (TranscriptionStatus.COMPLETED, services.cancel),
        (TranscriptionStatus.CANCELLED, services.cancel),
        (TranscriptionStatus.COMPLETED, services.retry),
        (TranscriptionStatus.PENDING, services.retry),
    ],
)
def test_illegal_transitions_raise(user, start, action):

    transcription = make_transcription(user, start, engine="default", size_bytes=1)
    with pytest.raises(services.IllegalTransition):
        action(transcription)
    transcription.refresh_from_db()
    assert transcription.status == start


def test_remote_storage_without_local_paths(
    auth_client, tone_wav, django_capture_on_commit_callbacks, settings
):
    """Storages without .path() (S3…) are streamed to a temporary file for the worker."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    transcription = run_upload(auth_client, tone_wav, django_capture_on_commit_callbacks)
    assert transcription.status == TranscriptionStatus.COMPLETED
    response = auth_client.get(f"{API}/transcriptions/{transcription.pk}/audio")
    assert b"".join(response.streaming_content) == tone_wav.read_bytes()


def test_a_single_chunk_job_is_one_task(auth_client, tone_wav, django_capture_on_commit_callbacks):
    from django_q.models import Task

    transcription = run_upload(auth_client, tone_wav, django_capture_on_commit_callbacks)
    assert transcription.status == TranscriptionStatus.COMPLETED
    funcs = sorted(Task.objects.values_list("func", flat=True))
    assert funcs == ["transcription_platform.transcriptions.tasks.process_transcription"]


def test_a_chain_enqueues_one_task_per_further_chunk(
    auth_client, chunked_wav, django_capture_on_commit_callbacks
):
    from django_q.models import Task

    with override_settings(TRANSCRIPTION_PLATFORM={**engine_settings(), "CHUNK_SECONDS": 5}):
        transcription = run_upload(auth_client, chunked_wav, django_capture_on_commit_callbacks)
    assert transcription.status == TranscriptionStatus.COMPLETED
    names = Task.objects.values_list("func", flat=True)
    assert sorted(name.rsplit(".", 1)[1] for name in names) == [
        "process_transcription",
        "transcribe_chunk",
        "transcribe_chunk",
    ]
