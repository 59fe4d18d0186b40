"""3. Queue throughput: transcription jobs/s through the whole pipeline with the
FakeEngine (zero latency) versus raw django-q2 no-op tasks/s, same cluster settings.

Each side is enqueued in one transaction while the cluster idles, so every task
becomes visible at the same instant (the commit); the clock runs from that commit to
the last completion (the jobs' ``completed_at``; for no-ops, the broker's queue found
empty). PostgreSQL's own statistics count the transactions per job and per task. A
job of one chunk is one task (process_transcription) of three transactions: the start,
the plan with its claim, and the stored result with the stitched transcript, the
completion and every in-transaction receiver's writes (billing, analytics, stream
events, webhooks) — plus django-q2's own per task and the creation's share.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks import harness

JOBS = 200
NOOPS = 600
STATS_FLUSH_SECONDS = 1.5


def _cluster_settings() -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection

    return {
        "workers": settings.Q_CLUSTER["workers"],
        "poll": settings.Q_CLUSTER["poll"],
        "save_limit": settings.Q_CLUSTER["save_limit"],
        "broker": "django-q2 ORM (PostgreSQL)",
        "conn_max_age": connection.settings_dict["CONN_MAX_AGE"],
    }


def transactions() -> int:
    """Transactions committed or rolled back in the benchmark database so far (every
    connection: the cluster's, the server's and this process's)."""
    from django.db import connection

    with connection.cursor() as cursor:
        # The statistics of this backend are flushed at most once a second (PG 15).
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        return int(cursor.fetchone()[0])


def settled_transactions() -> int:
    """`transactions` once the other backends had time to report theirs."""
    time.sleep(STATS_FLUSH_SECONDS)
    return transactions()


def postgres_backends() -> list[int]:
    """The server processes of every connection to the benchmark database."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [int(row[0]) for row in cursor.fetchall()]


class CpuMeter:
    """CPU seconds the cluster's processes and the database's backends use between
    `start` and `stop` (each side of the comparison pays for its own work in both)."""

    def __init__(self, cluster: harness.ProcessGroup) -> None:
        self.cluster = cluster
        self.before: tuple[dict[int, float], dict[int, float]] = ({}, {})

    def _sample(self) -> tuple[dict[int, float], dict[int, float]]:
        return (
            harness.cpu_seconds_by_pid(self.cluster.members()),
            harness.cpu_seconds_by_pid(postgres_backends()),
        )

    def start(self) -> None:
        self.before = self._sample()

    def stop(self, count: int) -> dict[str, float]:
        """Milliseconds per unit of work (task or job), cluster and PostgreSQL."""
        after = self._sample()
        used = [
            # A process that started meanwhile counts in full; one that ended is lost
            # (with persistent connections, none does).
            sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())
            for before, now in zip(self.before, after, strict=True)
        ]
        return {
            "cluster_cpu_ms": round(used[0] / count * 1000, 2),
            "postgres_cpu_ms": round(used[1] / count * 1000, 2),
        }


def decode_and_plan_cpu_ms(clip: Path, rounds: int = 20) -> float:
    """CPU milliseconds one job spends decoding and planning ``clip`` (its only decode:
    the engine reads the samples the plan kept), measured here."""
    from transcription_platform.engines.audio import KEEP_DECODED_SECONDS, plan_chunks

    plan_chunks(clip, 600, keep_seconds=KEEP_DECODED_SECONDS)  # warm: codecs loaded
    started = time.process_time()
    for _ in range(rounds):
        plan_chunks(clip, 600, keep_seconds=KEEP_DECODED_SECONDS)
    return round((time.process_time() - started) / rounds * 1000, 2)


def create_jobs(owner: Any, clip: Path, count: int, *, enqueue: bool = True) -> list[str]:
    """``count`` FakeEngine jobs of ``clip`` for ``owner``, created in one transaction
    (with ``enqueue``, their queue rows become visible together, at its commit)."""
    from django.db import transaction

    from transcription_platform.transcriptions import services
    from transcription_platform.transcriptions.validation import JobOptions

    size = clip.stat().st_size
    options = JobOptions(engine="fake", language="en", prompt="", title="")
    with transaction.atomic():
        return [
            str(
                services.create_transcription(
                    owner=owner,
                    audio=services.AudioFile(clip, f"clip-{i}.flac", size, "audio/flac"),
                    info=None,
                    options=options,
                    enqueue=enqueue,
                )[0].pk
            )
            for i in range(count)
        ]


def noop_tasks(count: int, cluster: harness.ProcessGroup) -> dict[str, Any]:
    from django.db import transaction
    from django.utils import timezone
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    before = settled_transactions()
    meter = CpuMeter(cluster)
    meter.start()
    with transaction.atomic():
        for _ in range(count):
            async_task("benchmarks.tasks.noop")
    committed = timezone.now()
    started = time.perf_counter()

    # Successful tasks are not saved (save_limit -1, as recommended): a task is done
    # when the broker has acknowledged it, i.e. its queue row is gone.
    def all_done() -> bool:
        cluster.check_alive()
        return not OrmQ.objects.exists()

    harness.wait_for(all_done, 600, f"{count} no-op tasks", interval=0.02)
    seconds = time.perf_counter() - started
    cpu = meter.stop(count)
    after = settled_transactions()
    return {
        "tasks": count,
        "seconds": round(seconds, 2),
        "per_second": round(count / seconds, 1),
        "committed_at": committed.isoformat(),
        "transactions_per_task": round((after - before) / count, 1),
        **{f"{name}_per_task": value for name, value in cpu.items()},
    }


def pipeline_jobs(count: int, clip: Path, cluster: harness.ProcessGroup) -> dict[str, Any]:
    from django.db.models import Max
    from django.utils import timezone

    from transcription_platform.transcriptions.models import Transcription, TranscriptionStatus

    user = harness.bench_user(f"queue-{uuid.uuid4().hex[:8]}")
    before = settled_transactions()
    meter = CpuMeter(cluster)
    meter.start()
    create_jobs(user, clip, count)
    committed = timezone.now()
    jobs = Transcription.objects.filter(owner=user)

    def all_done() -> bool:
        cluster.check_alive()
        return (
            jobs.exclude(
                status__in=[TranscriptionStatus.PENDING, TranscriptionStatus.PROCESSING]
            ).count()
            >= count
        )

    harness.wait_for(all_done, 600, f"{count} transcription jobs", interval=0.5)
    cpu = meter.stop(count)
    failed = jobs.exclude(status=TranscriptionStatus.COMPLETED)
    if failed.exists():
        row = failed.first()
        raise harness.BenchmarkError(f"A job ended {row.status}: {row.error}")
    last = jobs.aggregate(last=Max("completed_at"))["last"]
    seconds = (last - committed).total_seconds()
    after = settled_transactions()
    chunks = sum(job.chunks.count() for job in jobs)
    return {
        "jobs": count,
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "per_second": round(count / seconds, 1),
        # Includes the creation (one transaction for all) and this process's polling.
        "transactions_per_job": round((after - before) / count, 1),
        # The creation's share is this process's, not the cluster's: not in these.
        **{f"{name}_per_job": value for name, value in cpu.items()},
    }


def run(workdir: Path, jobs: int = JOBS, noops: int = NOOPS) -> dict[str, Any]:
    # Five seconds of the sample: the fake engine really decodes and reads it.
    clip = harness.write_flac(workdir / "clip-5s.flac", harness.sample_pcm()[: 5 * harness.RATE])
    with harness.qcluster(workdir / "qcluster-queue.log") as cluster:
        harness.wait_for_cluster(cluster)
        raw = noop_tasks(noops, cluster)
        pipeline = pipeline_jobs(jobs, clip, cluster)
    # The same again with a new database connection per task (Django's default): what
    # CONN_MAX_AGE is worth on this pipeline.
    with harness.qcluster(
        workdir / "qcluster-queue-no-persistent.log", BENCH_CONN_MAX_AGE="0"
    ) as cluster:
        harness.wait_for_cluster(cluster)
        raw_0 = noop_tasks(noops, cluster)
        pipeline_0 = pipeline_jobs(jobs, clip, cluster)
    return {
        "cluster": _cluster_settings(),
        "raw_noop": raw,
        "pipeline_fake_engine": pipeline,
        "decode_and_plan_cpu_ms_per_job": decode_and_plan_cpu_ms(clip),
        "ratio_jobs_to_noop_tasks": round(pipeline["per_second"] / raw["per_second"], 3),
        "conn_max_age_0": {
            "raw_noop": raw_0,
            "pipeline_fake_engine": pipeline_0,
            "ratio_jobs_to_noop_tasks": round(pipeline_0["per_second"] / raw_0["per_second"], 3),
        },
    }
