"""Faults injected for real into the pipeline (issue 12, "Faults as integration tests").

* A real ``qcluster`` on PostgreSQL whose workers are SIGKILLed mid-chunk ten times in
  a row: every job completes exactly once — one usage record, one audit row, one
  webhook message each — and promptly: the queue would re-deliver a lost task only
  after ``retry`` (900 s here), so what brings the killed chunks back is the lease
  running out and the recovery sweep of the worker process started in its place.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from standardwebhooks import Webhook

from tests.fixtures.api import API
from tests.fixtures.audio import write_audio
from tests.fixtures.cluster import async_queue, start_cluster, stop_cluster, wait_for
from tests.fixtures.ports import free_port
from tests.fixtures.uploads import upload
from transcription_platform.audit.models import AuditLog
from transcription_platform.billing.models import Reservation, ReservationStatus, UsageRecord
from transcription_platform.notifications.models import WebhookMessage
from transcription_platform.transcriptions.models import (
    ChunkStatus,
    Transcription,
    TranscriptionChunk,
    TranscriptionStatus,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: This helper's loopback ports (see the test README of the worktree brief).
RECEIVER_PORTS = range(21000, 21100)
JOBS = 6
KILLS = 10
#: Queue timings that would leave a lost task alone for 15 minutes.
SLOW_QUEUE = {"TP_Q_TIMEOUT": "600", "TP_Q_RETRY": "900"}


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("a real cluster shares the test database: PostgreSQL (DATABASE_URL)")


class WebhookReceiver:
    """A Standard Webhooks receiver on 127.0.0.1 that verifies every message."""

    def __init__(self) -> None:
        self.secret = ""
        self.events: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.rejected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    event = Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                except Exception:
                    receiver.rejected += 1
                    self.send_response(400)
                else:
                    receiver.events.append(event)
                    receiver.ids.append(self.headers["webhook-id"])
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port(RECEIVER_PORTS)), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


@pytest.fixture
def fake_cluster_settings(settings, media_root, monkeypatch, tmp_path):
    """The test process enqueues to the queue the fake-engine cluster reads."""
    from tests import settings_worker_fake

    monkeypatch.setenv("TP_TEST_MEDIA", str(media_root))
    undo = async_queue(settings, settings_worker_fake)
    yield
    undo()


def busy_worker(pid_dir: Path) -> int | None:
    """A worker process transcribing a chunk right now (its pid file exists)."""
    for marker in pid_dir.iterdir():
        pid = int(marker.name)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            marker.unlink(missing_ok=True)  # left by a worker killed earlier
            continue
        return pid
    return None


def test_workers_sigkilled_mid_chunk_ten_times_every_job_completes_exactly_once(
    auth_client, fake_cluster_settings, webhook_receiver, tmp_path
):
    created = auth_client.post(
        f"{API}/webhooks/",
        {"url": webhook_receiver.url, "events": ["transcription.completed"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    webhook_receiver.secret = created.json()["secret"]
    # 40 s of sound and pauses: 10 s chunks (4 or 5 a job), each taking 3 s.
    audio = write_audio(
        tmp_path / "forty.wav",
        [(9.0, 440), (1.0, None), (9.0, 550), (1.0, None)] * 2,
        rate=16_000,
        channels=1,
    )
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    env = {
        **SLOW_QUEUE,
        "TP_PID_DIR": str(pid_dir),
        "TP_FAKE_LATENCY": "3",
        "TP_CHUNK_SECONDS": "10",
        "TP_CLAIM_LEASE": "3",
        "TP_TASK_MAX_ATTEMPTS": "30",
    }
    started = time.monotonic()
    cluster = start_cluster(env, settings_module="tests.settings_worker_fake")
    try:
        ids = []
        for _ in range(JOBS):
            response = upload(auth_client, audio)
            assert response.status_code == 201, response.content
            ids.append(response.json()["id"])
        killed = []
        for _ in range(KILLS):
            pid = wait_for(
                lambda: busy_worker(pid_dir), 90, "a worker to be transcribing", every=0.1
            )
            time.sleep(0.5)  # well inside the 3 s chunk
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            wait_for(lambda pid=pid: busy_worker(pid_dir) != pid, 10, "the kill", every=0.05)

        def all_finished() -> bool:
            statuses = Transcription.objects.filter(pk__in=ids).values_list("status", flat=True)
            return all(
                s in (TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED) for s in statuses
            )

        wait_for(all_finished, 240, "every job to finish")
        elapsed = time.monotonic() - started
        finished = {t.pk: t.completed_at for t in Transcription.objects.filter(pk__in=ids)}
        # Webhooks are delivered after the commit, by the same cluster.
        wait_for(lambda: len(webhook_receiver.events) >= JOBS, 60, "the webhooks")
        time.sleep(3)  # a duplicate delivery or completion would show up now
    finally:
        stop_cluster(cluster)

    assert len(set(killed)) == KILLS  # ten different worker processes died
    jobs = list(Transcription.objects.filter(pk__in=ids))
    assert [j.status for j in jobs] == [TranscriptionStatus.COMPLETED] * JOBS, [
        j.error for j in jobs
    ]
    assert {j.pk: j.completed_at for j in jobs} == finished  # completed once, not again
    chunks = TranscriptionChunk.objects.filter(transcription_id__in=ids)
    per_job = Counter(chunks.values_list("transcription_id", flat=True))
    assert len(per_job) == JOBS
    assert min(per_job.values()) >= 4  # at most 10 s each, cut at quiet points
    assert set(chunks.values_list("status", flat=True)) == {ChunkStatus.DONE}
    # Each kill cost its chunk one more claim; the rest ran once.
    extra_claims = sum(c.attempts - 1 for c in chunks)
    assert extra_claims >= KILLS
    for job in jobs:
        assert len(job.segments) >= 4
        assert [s["id"] for s in job.segments] == list(range(len(job.segments)))
    # Exactly once downstream too.
    ledger = Counter(UsageRecord.objects.values_list("object_id", flat=True))
    assert ledger == {str(pk): 1 for pk in ids}
    assert set(Reservation.objects.values_list("status", flat=True)) == {ReservationStatus.SETTLED}
    audit = Counter(
        AuditLog.objects.filter(object_id__in=[str(pk) for pk in ids]).values_list(
            "object_id", "action"
        )
    )
    assert audit == {(str(pk), "created"): 1 for pk in ids}
    messages = Counter(
        WebhookMessage.objects.filter(event_type="transcription.completed").values_list(
            "payload__data__id", flat=True
        )
    )
    assert messages == {str(pk): 1 for pk in ids}
    delivered = Counter(event["data"]["id"] for event in webhook_receiver.events)
    assert delivered == {str(pk): 1 for pk in ids}
    assert webhook_receiver.rejected == 0
    # Promptly: far sooner than the queue's redelivery of a lost task (900 s).
    assert elapsed < 300
