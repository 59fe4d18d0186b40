"""What one transcription job costs the worker, measured in-process: statements, CPU.

The queue benchmark (``bench_queue``) times jobs through a real cluster; on a shared
2-core machine that rate moves with the load. This tool runs the same job (a 5 s
clip on the ``FakeEngine``, one chunk) through ``process_transcription`` directly,
``N`` times after a warm-up, in this process (no queue), and reports per job:

* the SQL statements sent, grouped by their first words (a connection
  ``execute_wrapper``: savepoints included, commits not);
* the CPU time of this process (``time.process_time``) and the wall time.

Same settings as the benchmarks (``benchmarks/settings.py``, PostgreSQL). Run it alone::

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/tp_cpu \\
        python -m benchmarks.cpu_queue --jobs 60 [--profile]

``--profile`` prints a pyinstrument profile of the measured jobs (if installed).
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import harness

#: Savepoint names carry a counter: one key for all of them.
_SAVEPOINT = re.compile(r'"s\d+_x\d+"')


def statement_kind(sql: str) -> str:
    """The first words of ``sql``, enough to tell the statements of a job apart."""
    words = _SAVEPOINT.sub("sp", sql).split()
    return " ".join(words[:5])[:100]


def run_jobs(count: int, workdir: Path, *, profile: bool = False) -> dict[str, Any]:
    """Create ``count`` (+3 warm-up) jobs in one transaction, then run each in turn."""
    from django.db import connection

    from benchmarks.bench_queue import create_jobs
    from transcription_platform.transcriptions import tasks

    clip = harness.write_flac(workdir / "clip-5s.flac", harness.sample_pcm()[: 5 * harness.RATE])
    user = harness.bench_user(f"cpu-queue-{uuid.uuid4().hex[:8]}")
    warmup = 3
    # Not enqueued: this process runs them, no cluster does.
    ids = create_jobs(user, clip, count + warmup, enqueue=False)
    for pk in ids[:warmup]:
        tasks.process_transcription(pk)
    statements: Counter[str] = Counter()

    def counted(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        statements[statement_kind(sql)] += 1
        return execute(sql, *args)

    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005)
    with connection.execute_wrapper(counted):
        if profiler is not None:
            profiler.start()
        cpu, wall = time.process_time(), time.perf_counter()
        for pk in ids[warmup:]:
            tasks.process_transcription(pk)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False))
    return {
        "jobs": count,
        "cpu_ms_per_job": round(cpu / count * 1000, 2),
        "wall_ms_per_job": round(wall / count * 1000, 2),
        "statements_per_job": round(sum(statements.values()) / count, 2),
        "statements": {kind: round(n / count, 2) for kind, n in statements.most_common()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile")
    args = parser.parse_args(argv)
    harness.setup_django()
    with tempfile.TemporaryDirectory(prefix="tp-cpu-queue-") as workdir:
        result = run_jobs(args.jobs, Path(workdir), profile=args.profile)
    print(
        f"per job: {result['statements_per_job']} statements, "
        f"{result['cpu_ms_per_job']} ms CPU, {result['wall_ms_per_job']} ms wall"
    )
    for kind, per_job in result["statements"].items():
        print(f"{per_job:6.2f}  {kind}")


if __name__ == "__main__":
    main()
