"""5. Load: 200 concurrent connections for 60 s against the shipped web server.

gunicorn with the example project's own config (``example_project/gunicorn.conf.py``:
2 gthread workers of 16 threads), PostgreSQL and Redis on this machine; locust
(``benchmarks/locustfile.py``) holds ``users`` connections, each sending its next
request as soon as the last is answered: list and detail of a user's 1,000
transcriptions, creates (a one-second FLAC) and uploads (the 80 KB speech sample), in
the proportions 4 : 4 : 1 : 1. Uploads are probed and stored and their jobs enqueued;
no worker runs them (the queue is not what is measured here).

The figure that matters is the error count, which must be 0 (the benchmark fails
otherwise): every request answered with its expected status within locust's 60 s
timeout. Latency and throughput are
recorded beside it; on a 2-core machine that also runs the load generator they say
how long requests queue, not how fast one is served (bench ``api`` measures that).
"""

from __future__ import annotations

import csv
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import harness

ROWS = 1_000
GUNICORN_CONFIG = harness.ROOT / "example_project" / "gunicorn.conf.py"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"


def seed(rows: int = ROWS) -> tuple[Any, list[str]]:
    """``rows`` completed transcriptions of one user; (user, their ids)."""
    from datetime import timedelta

    from django.utils import timezone

    from transcription_platform.transcriptions.models import Transcription, TranscriptionStatus

    user = harness.bench_user("load-client")
    now = timezone.now()
    created = Transcription.objects.bulk_create(
        Transcription(
            owner=user,
            title=f"Call {i}",
            original_filename=f"call-{i}.ogg",
            audio=f"transcriptions/load/call-{i}.ogg",
            size_bytes=80_483,
            content_type="audio/ogg",
            duration=36.2,
            language="en",
            engine="fake",
            status=TranscriptionStatus.COMPLETED,
            progress=100,
            text=harness.SAMPLE_TEXT,
            segments=[{"id": 0, "start": 0.0, "end": 36.2, "text": harness.SAMPLE_TEXT}],
            created_at=now - timedelta(minutes=i),
            completed_at=now - timedelta(minutes=i),
        )
        for i in range(rows)
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # steady state, as autovacuum keeps it
    return user, [str(t.pk) for t in created]


def server(port: int, log: Path, extra: list[str] | None = None) -> harness.ProcessGroup:
    """gunicorn with the shipped config (the benchmark's settings and WSGI module);
    ``extra`` command-line flags override it."""
    return harness.ProcessGroup(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "benchmarks.wsgi:application",
            "--config",
            str(GUNICORN_CONFIG),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--access-logfile",
            "/dev/null",
            *(extra or []),
        ],
        harness.child_env(),
        log,
    )


def server_description() -> str:
    """The shipped config's workers and threads as this run resolves them (with its
    environment variables: ``WEB_CONCURRENCY``, ``GUNICORN_THREADS``)."""
    config = runpy.run_path(str(GUNICORN_CONFIG))
    return (
        f"gunicorn, example_project/gunicorn.conf.py ({config['workers']} "
        f"{config['worker_class']} workers x {config['threads']} threads)"
    )


def parse_stats(path: Path) -> dict[str, dict[str, Any]]:
    """locust's ``*_stats.csv``: per request name (and ``Aggregated``) the figures."""
    figures = {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            figures[row["Name"]] = {
                "requests": int(row["Request Count"]),
                "errors": int(row["Failure Count"]),
                "requests_per_second": round(float(row["Requests/s"]), 1),
                "p50_ms": float(row["50%"]),
                "p99_ms": float(row["99%"]),
                "max_ms": round(float(row["Max Response Time"]), 1),
            }
    if "Aggregated" not in figures:
        raise harness.BenchmarkError(f"No aggregated row in {path}.")
    return figures


def wait_until_serving(web: harness.ProcessGroup, base_url: str) -> None:
    """Wait (60 s at most) until the gunicorn ``web`` answers the benchmarks' bare view."""

    def up() -> bool:
        web.check_alive()
        try:
            status, _ = harness.call_api(base_url, "GET", "/bench/bare/", token=None, timeout=2)
        except harness.BenchmarkError:
            return False
        return status == 200

    harness.wait_for(up, 60, "gunicorn to answer")


def run(workdir: Path, seconds: float = 60, users: int = 200) -> dict[str, Any]:
    user, ids = seed()
    token = harness.access_token(user)
    small = harness.write_flac(workdir / "one-second.flac", harness.sample_pcm()[: harness.RATE])
    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    with server(port, workdir / "gunicorn-load.log") as web:
        wait_until_serving(web, base_url)
        prefix = workdir / "locust"
        env = harness.child_env(
            BENCH_LOAD_TOKEN=token,
            BENCH_LOAD_IDS=",".join(ids),
            BENCH_LOAD_SMALL=str(small),
            BENCH_LOAD_SPEECH=str(harness.SAMPLE),
        )
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "--host",
                base_url,
                "--users",
                str(users),
                "--spawn-rate",
                str(users),  # every connection within the first second
                "--run-time",
                f"{seconds:.0f}s",
                "--stop-timeout",
                "60",
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env=env,
            cwd=harness.ROOT,
            capture_output=True,
            text=True,
            timeout=seconds + 180,
            check=False,
        )
        web.check_alive()
    stats = Path(f"{prefix}_stats.csv")
    if not stats.is_file():
        raise harness.BenchmarkError(f"locust wrote no statistics:\n{completed.stderr[-3000:]}")
    figures = parse_stats(stats)
    total = figures.pop("Aggregated")
    failures = Path(f"{prefix}_failures.csv")
    if total["errors"] or not total["requests"]:
        # As bench "api": a figure made of errors is not a figure, and the profile's
        # claim is 0 errors.
        reasons = failures.read_text() if failures.is_file() else completed.stderr[-3000:]
        raise harness.BenchmarkError(
            f"{total['errors']} of {total['requests']} requests failed under load:\n{reasons}"
        )
    return {
        "server": server_description(),
        "load": f"locust, {users} users (connections), no think time, {seconds:.0f} s",
        "users": users,
        "seconds": seconds,
        "mix": "list 4 : detail 4 : create 1 : upload 1",
        "rows": ROWS,
        "total": total,
        "operations": figures,
    }
