"""Scale-out: two machines' clusters on django-q2's Redis broker, one killed mid-run.

Three processes stand in for three machines and share only what machines would:
PostgreSQL, Redis (django-q2's broker) and an S3-compatible store (moto in server mode
on 127.0.0.1, through django-storages' S3 backend). The web server (gunicorn) takes the
uploads and stores the audio in S3; two ``qcluster`` processes, machines A and B, take
the jobs. The jobs spread over both; machine A is killed (SIGKILL, the whole process
group) while it works; machine B finishes everything, including what A held, taken
back by the recovery schedule. Nothing is lost: every job completes once, with every
chunk, and every upload's audio is in the bucket.

The recovery schedule runs every 5 minutes; the test makes its next run due at once
(the cluster's scheduler still runs it, through the broker, on a worker of B).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from tests.fixtures.api import API
from tests.fixtures.ports import free_port
from tests.fixtures.uploads import SPEECH_SAMPLE
from transcription_platform.accounts.services import create_api_key
from transcription_platform.transcriptions.models import (
    ChunkStatus,
    Transcription,
    TranscriptionStatus,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TP_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
JOBS = 8


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[dict[str, str]]:
    """PostgreSQL, Redis and a moto S3 server: the environment every machine gets."""
    if connection.vendor != "postgresql":
        pytest.skip("the machines share the database: set DATABASE_URL (PostgreSQL)")
    redis = pytest.importorskip("redis")
    pytest.importorskip("storages")
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")

    s3 = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    s3.start()
    endpoint = f"http://127.0.0.1:{s3._port}"
    bucket = "tp-scale-out"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    db = connection.settings_dict
    queue = f"scale-out-{uuid.uuid4().hex[:8]}"  # this run's own queue in Redis
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings_scale_out",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "PYTHONPATH": str(ROOT),
        "TP_Q_REDIS_URL": REDIS_URL,
        "TP_Q_NAME": queue,
        "TP_S3_ENDPOINT": endpoint,
        "TP_S3_BUCKET": bucket,
    }
    try:
        yield {"env": env, "bucket": bucket, "s3": client, "logs": tmp_path}  # type: ignore[dict-item]
    finally:
        s3.stop()
        queues = redis.Redis.from_url(REDIS_URL)
        for key in queues.scan_iter(f"django_q:{queue}*"):
            queues.delete(key)


def start(args: list[str], env: dict[str, str], log: Path, **extra: str) -> subprocess.Popen:
    with log.open("wb") as output:
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env={**env, **extra},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a machine dies whole
        )


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(predicate, timeout: float, what: str, logs: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in logs.glob("*.log"))
    pytest.fail(f"timed out after {timeout}s waiting for {what}\n{tails}")


def machines_per_chunk() -> dict[str, int]:
    """How many finished chunks each machine transcribed (the fake engine's model)."""
    counts: dict[str, int] = {}
    from transcription_platform.transcriptions.models import TranscriptionChunk

    for result in TranscriptionChunk.objects.filter(status=ChunkStatus.DONE).values_list(
        "result", flat=True
    ):
        machine = result["model"].removeprefix("fake-")
        counts[machine] = counts.get(machine, 0) + 1
    return counts


def test_two_machines_share_the_jobs_and_one_dies_without_losing_any(shared, user) -> None:
    env, logs = shared["env"], shared["logs"]
    _key, secret = create_api_key(user, "scale-out")
    port = free_port()
    web = start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "django.core.wsgi:get_wsgi_application()",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
        env,
        logs / "web.log",
    )
    qcluster = [sys.executable, "-m", "django", "qcluster"]
    machine_a = start(qcluster, env, logs / "machine-a.log", TP_MACHINE="a")
    machine_b = start(qcluster, env, logs / "machine-b.log", TP_MACHINE="b")
    try:
        url = f"http://127.0.0.1:{port}"

        def web_up() -> bool:
            # Ours only once our arbiter listens (another session may hold the port).
            if f"Listening at: {url} ({web.pid})" not in (logs / "web.log").read_text():
                return False
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(web_up, 60, "the web server", logs)
        ids = []
        for _ in range(JOBS):
            with SPEECH_SAMPLE.open("rb") as audio:
                response = httpx.post(
                    f"{url}{API}/transcriptions/",
                    headers={"X-API-Key": str(secret)},
                    files={"audio_file": (SPEECH_SAMPLE.name, audio, "audio/ogg")},
                    timeout=60,
                )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])

        # Both machines at work, some jobs not finished: then machine A dies.
        def both_working() -> bool:
            counts = machines_per_chunk()
            unfinished = Transcription.objects.exclude(
                status=TranscriptionStatus.COMPLETED
            ).exists()
            return bool(counts.get("a") and counts.get("b") and unfinished)

        wait_for(both_working, 120, "both machines to transcribe chunks", logs)
        stop(machine_a, signal.SIGKILL)
        killed_at = timezone.now()
        unfinished_at_kill = Transcription.objects.exclude(
            status=TranscriptionStatus.COMPLETED
        ).count()
        assert unfinished_at_kill

        def all_completed() -> bool:
            # Make the recovery schedule due: machine B's scheduler runs it (every 30 s).
            from django_q.models import Schedule

            from transcription_platform.transcriptions.tasks import RECOVERY_SCHEDULE_NAME

            Schedule.objects.filter(name=RECOVERY_SCHEDULE_NAME).update(next_run=timezone.now())
            rows = Transcription.objects.filter(pk__in=ids)
            assert not rows.filter(status=TranscriptionStatus.FAILED).exists(), list(rows.values())
            return rows.filter(status=TranscriptionStatus.COMPLETED).count() == JOBS

        wait_for(all_completed, 240, "machine B to finish every job", logs)
        time.sleep(2)  # a duplicate delivery would show up as a second completion
        completed = {t.pk: t.completed_at for t in Transcription.objects.filter(pk__in=ids)}
    finally:
        for process in (machine_a, machine_b, web):
            stop(process)

    counts = machines_per_chunk()
    assert counts.get("a", 0) > 0, counts
    assert counts.get("b", 0) > 0, counts
    rows = Transcription.objects.filter(pk__in=ids)
    assert rows.count() == JOBS
    for row in rows:
        assert row.status == TranscriptionStatus.COMPLETED, row.error_message
        assert row.completed_at == completed[row.pk]  # completed once
        chunks = list(row.chunks.order_by("index"))
        assert chunks
        assert all(c.status == ChunkStatus.DONE for c in chunks)
        starts = [s["start"] for s in row.segments]
        assert starts == sorted(starts)
        assert all(a["end"] <= b["start"] + 0.05 for a, b in itertools.pairwise(row.segments))
    # Machine B finished work after A died.
    assert rows.filter(completed_at__gt=killed_at).exists()
    # Every upload's audio is in the shared bucket, once.
    stored = shared["s3"].list_objects_v2(Bucket=shared["bucket"]).get("Contents", [])
    names = sorted(o["Key"] for o in stored if not o["Key"].startswith("health/"))
    assert names == sorted(row.audio.name for row in rows)
