"""3. Queue throughput: transcription jobs/s through the whole pipeline with the
FakeEngine (zero latency) versus raw django-q2 no-op tasks/s, same cluster settings.

Each side is enqueued in one transaction while the cluster idles, so every task
becomes visible at the same instant (the commit); the clock runs from that commit to
the last completion as recorded by the workers themselves. A job is at least two
tasks (process_transcription, then one transcribe_chunk per chunk), plus the database
work of every step: claim, progress, stitch, the transcript, signals and audit.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from benchmarks import harness

JOBS = 200
NOOPS = 600


def _cluster_settings() -> dict[str, Any]:
    from django.conf import settings
    from django.db import connection

    return {
        "workers": settings.Q_CLUSTER["workers"],
        "poll": settings.Q_CLUSTER["poll"],
        "broker": "django-q2 ORM (PostgreSQL)",
        "conn_max_age": connection.settings_dict["CONN_MAX_AGE"],
    }


def noop_tasks(count: int, cluster: harness.ProcessGroup) -> dict[str, Any]:
    from django.db import transaction
    from django.utils import timezone
    from django_q.models import Task
    from django_q.tasks import async_task

    group = f"noop-{uuid.uuid4().hex[:8]}"
    with transaction.atomic():
        for _ in range(count):
            async_task("benchmarks.tasks.noop", group=group)
    committed = timezone.now()

    def all_done() -> bool:
        cluster.check_alive()
        return Task.objects.filter(group=group).count() >= count

    harness.wait_for(all_done, 600, f"{count} no-op tasks", interval=0.5)
    tasks = Task.objects.filter(group=group)
    if tasks.filter(success=False).exists():
        raise harness.BenchmarkError("A no-op task failed; see the cluster log.")
    last = max(tasks.values_list("stopped", flat=True))
    seconds = (last - committed).total_seconds()
    return {"tasks": count, "seconds": round(seconds, 2), "per_second": round(count / seconds, 1)}


def pipeline_jobs(count: int, clip: Path, cluster: harness.ProcessGroup) -> dict[str, Any]:
    from django.db import transaction
    from django.db.models import Max
    from django.utils import timezone

    from transcription_platform.transcriptions import services
    from transcription_platform.transcriptions.models import Status, Transcription
    from transcription_platform.transcriptions.validation import JobOptions

    user = harness.bench_user(f"queue-{uuid.uuid4().hex[:8]}")
    with transaction.atomic():
        for i in range(count):
            services.create_transcription(
                owner=user,
                audio=services.AudioFile(clip, f"clip-{i}.flac", clip.stat().st_size, "audio/flac"),
                info=None,
                options=JobOptions(engine="fake", language="en", prompt="", title=""),
            )
    committed = timezone.now()
    jobs = Transcription.objects.filter(owner=user)

    def all_done() -> bool:
        cluster.check_alive()
        return jobs.exclude(status__in=[Status.PENDING, Status.PROCESSING]).count() >= count

    harness.wait_for(all_done, 600, f"{count} transcription jobs", interval=0.5)
    failed = jobs.exclude(status=Status.COMPLETED)
    if failed.exists():
        row = failed.first()
        raise harness.BenchmarkError(f"A job ended {row.status}: {row.error}")
    last = jobs.aggregate(last=Max("completed_at"))["last"]
    seconds = (last - committed).total_seconds()
    chunks = sum(job.chunks.count() for job in jobs)
    return {
        "jobs": count,
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "per_second": round(count / seconds, 1),
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
        "ratio_jobs_to_noop_tasks": round(pipeline["per_second"] / raw["per_second"], 3),
        "conn_max_age_0": {
            "raw_noop": raw_0,
            "pipeline_fake_engine": pipeline_0,
            "ratio_jobs_to_noop_tasks": round(pipeline_0["per_second"] / raw_0["per_second"], 3),
        },
    }
