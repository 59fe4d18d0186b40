"""The last chunk's store completes the job in its own transaction: two chunks stored
at the same moment (a parallel fan-out) still complete it exactly once.

PostgreSQL only: SQLite lets one writer in at a time, so the race cannot happen there.
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from tests.fixtures.audio import write_audio
from tests.fixtures.billing import FAKE_ENGINE
from tests.fixtures.transcriptions import make_transcription
from transcription_platform import signals
from transcription_platform.engines import get_engine
from transcription_platform.transcriptions import tasks
from transcription_platform.transcriptions.models import (
    Transcription,
    TranscriptionChunk,
    TranscriptionStatus,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_chunks_stored_at_once_complete_the_job_exactly_once(
    settings, tmp_path, user, monkeypatch
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a race of two writers: set DATABASE_URL (PostgreSQL)")
    settings.TRANSCRIPTION_PLATFORM = {
        "ENGINES": {"default": {"BACKEND": FAKE_ENGINE, "OPTIONS": {}}},
    }
    audio = write_audio(tmp_path / "two.wav", [(2.0, 440)], rate=16_000, channels=1)
    transcription = make_transcription(user, status=TranscriptionStatus.PROCESSING)
    chunks = [
        TranscriptionChunk.objects.create(
            transcription=transcription, index=i, start=float(i), end=float(i + 1)
        )
        for i in range(2)
    ]
    claims = [tasks._claim(chunk) for chunk in chunks]
    engine = get_engine()
    results = [
        engine.transcribe(tasks.AudioClip(audio.as_posix(), chunk.start, chunk.end))
        for chunk in chunks
    ]

    # Each store pauses inside its transaction, after writing its chunk: without the
    # job's row lock both would see the other chunk unfinished and neither complete.
    original = tasks._job_progress

    def slow_job_progress(rows):
        time.sleep(0.3)
        return original(rows)

    monkeypatch.setattr(tasks, "_job_progress", slow_job_progress)
    completed: list[str] = []

    def on_completed(sender, transcription, **kwargs):
        completed.append(str(transcription.pk))

    signals.transcription_completed.connect(on_completed, weak=False)
    start = threading.Barrier(2)
    outcomes: list[tasks.Stored] = []

    def store(i: int) -> None:
        try:
            start.wait()
            outcomes.append(tasks._store_result(chunks[i], claims[i], results[i], chain=False))
        finally:
            connection.close()

    threads = [threading.Thread(target=store, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        signals.transcription_completed.disconnect(on_completed)

    assert sorted(o.value for o in outcomes) == ["finished", "kept"]
    transcription = Transcription.objects.get(pk=transcription.pk)
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert transcription.progress == 100
    assert completed == [str(transcription.pk)]
