"""Run the benchmark suite: ``nox -s bench`` or ``python -m benchmarks.run``.

    python -m benchmarks.run                      # everything (about 10 minutes)
    python -m benchmarks.run --only api,queue     # a subset
    python -m benchmarks.run --quick              # short files and runs, nothing written

Needs PostgreSQL (``BENCH_DATABASE_URL``, default the ``tp_bench`` database on
127.0.0.1, dropped and re-created by each run), Redis (``BENCH_REDIS_URL``), ``wrk``,
gunicorn and djangorestframework (the API benchmark's DRF reference); ``BENCH_PORT``
picks the server's port (default: a free one). Prints a Markdown table and writes
``benchmarks/results/latest.json`` and ``latest.md`` (a subset run replaces only its
own sections). Benchmarks measure; they assert nothing about speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks import harness

BENCHMARKS = (
    "e2e",
    "api",
    "queue",
    "memory",
    "analytics",
    "streams",
    "billing",
    "load",
    "multilingual",
)
RESULTS = Path(__file__).resolve().parent / "results"


def _pg_version(number: int) -> str:
    # libpq's integer form: major * 10000 + minor since PostgreSQL 10.
    return f"{number // 10000}.{number % 10000}"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = ""
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        mem_kib = int(meminfo.readline().split()[1])
    from django.db import connection

    packages = ("django", "django-q2", "django-ninja", "gunicorn", "faster-whisper", "ctranslate2")
    wrk_version = subprocess.run(
        ["wrk", "--version"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "gpu": "none",
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": _pg_version(connection.cursor().connection.info.server_version),
        "wrk": wrk_version.split(" [")[0],
        "packages": {name: version(name) for name in packages},
    }


def commit() -> str:
    completed = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=harness.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() or "unknown"


def run_benchmarks(only: list[str], quick: bool, workdir: Path) -> dict[str, Any]:
    from benchmarks import (
        bench_analytics,
        bench_api,
        bench_billing,
        bench_e2e,
        bench_load,
        bench_memory,
        bench_multilingual,
        bench_queue,
        bench_streams,
    )
    from benchmarks import settings as bench_settings

    results: dict[str, Any] = {}
    port = int(os.environ.get("BENCH_PORT") or harness.free_port())
    base_url = f"http://127.0.0.1:{port}"
    with harness.gunicorn(port, workdir / "gunicorn.log") as server:
        bench_load.wait_until_serving(server, base_url)
        steps = {
            "api": lambda: bench_api.run(workdir, seconds=3 if quick else 30),
            "queue": lambda: bench_queue.run(
                workdir, jobs=30 if quick else bench_queue.JOBS, noops=60 if quick else 600
            ),
            "e2e": lambda: bench_e2e.run(base_url, workdir, seconds=60 if quick else 600),
            "memory": lambda: bench_memory.run(base_url, workdir, seconds=120 if quick else 3600),
            "analytics": lambda: bench_analytics.run(
                base_url,
                events=10_000 if quick else bench_analytics.EVENTS,
                requests=5 if quick else bench_analytics.REQUESTS,
            ),
            "streams": lambda: bench_streams.run(
                workdir, streams=50 if quick else bench_streams.STREAMS, hold=3 if quick else 20
            ),
            "billing": lambda: bench_billing.run(
                bench_settings.DATABASE_URL, creates=30 if quick else 200
            ),
            "load": lambda: bench_load.run(
                workdir, seconds=10 if quick else 60, users=50 if quick else 200
            ),
            "multilingual": lambda: bench_multilingual.run(workdir, quick=quick),
        }
        for name in BENCHMARKS:
            if name not in only:
                continue
            print(f"[bench] {name} …", file=sys.stderr, flush=True)
            start = time.perf_counter()
            results[name] = steps[name]()
            results[name]["measured_at"] = datetime.now(UTC).isoformat(timespec="seconds")
            results[name]["commit"] = commit()
            results[name]["benchmark_seconds"] = round(time.perf_counter() - start, 1)
            print(f"[bench] {name} done in {results[name]['benchmark_seconds']}s", file=sys.stderr)
    return results


# --------------------------------------------------------------------------- report


def _latency(result: dict[str, Any]) -> str:
    return (
        f"{result['requests_per_second']:,.0f} req/s "
        f"(p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms)"
    )


def _paced(result: dict[str, Any]) -> str:
    """A paced run's latency, and the rate served if it fell short of the offered one."""
    figures = f"p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
    if result["sustained"]:
        return figures
    return f"{figures} (saturated: {result['requests_per_second']:,.0f} req/s served)"


def _paced_rows(paced: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The paced run: every target at the same offered rate, below saturation."""
    rate, connections = paced["offered_per_second"], paced["connections"]
    rows = []
    for name in ("list", "detail"):
        for reference, label in (("ninja", "plain django-ninja"), ("drf", "DRF `ModelViewSet`")):
            if f"{reference}_{name}" not in paced:
                continue
            rows.append(
                (
                    f"API `GET` {name} at {rate:,.0f} req/s offered on {connections} "
                    f"connections (paced) vs {label}: latency",
                    _paced(paced[name]),
                    _paced(paced[f"{reference}_{name}"]),
                    f"{paced[name][f'p99_ratio_to_{reference}']:.2f}x (p99)",
                )
            )
    rows.append(
        (
            f"API bare `JsonResponse` at {rate:,.0f} req/s offered on {connections} "
            "connections (paced): the server's own latency",
            _paced(paced["bare"]),
            "",
            "",
        )
    )
    return rows


LANGUAGE_NAMES = {"de": "German", "fr": "French", "pt": "Portuguese", "en": "English"}


def _transcribed(model: str, run: dict[str, Any]) -> str:
    return (
        f"{model}: WER {run['wer']:.1%} in {run['wall_seconds']:.1f} s "
        f"({run['real_time_factor']:.1f}x real time)"
    )


def _multilingual_rows(multilingual: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Whisper base (ours) against the English-only tiny.en on generated speech."""
    base, tiny = multilingual["models"]["base"], multilingual["models"]["tiny.en"]
    rows = []
    for language, figures in base["languages"].items():
        given, tiny_run = figures["given"], tiny["languages"][language]["given"]
        tiny_note = "" if tiny_run["language_given"] else ", no language: it allows only en"
        rows.append(
            (
                f"Offline model, {LANGUAGE_NAMES.get(language, language)} "
                f"({figures['audio_seconds']:.0f} s of espeak-ng speech, `language={language}`)",
                _transcribed("base", given),
                _transcribed("tiny.en", tiny_run) + tiny_note,
                "",
            )
        )
    detected = {lang: f["detected"] for lang, f in base["languages"].items()}
    rows.append(
        (
            "Offline model base, no language given: language detected (WER)",
            ", ".join(
                f"{lang} → {run['language']} ({run['wer']:.1%})" for lang, run in detected.items()
            ),
            "",
            "",
        )
    )
    rows.append(
        (
            "Offline model: first load (join + SHA-256 + load) / process peak RSS",
            f"base: {base['load_seconds']:.1f} s / {base['peak_rss_mib']:.0f} MiB",
            f"tiny.en: {tiny['load_seconds']:.1f} s / {tiny['peak_rss_mib']:.0f} MiB",
            "",
        )
    )
    return rows


def to_markdown(report: dict[str, Any]) -> str:
    """The results as the Markdown table shown on the docs page."""
    rows = []
    results = report["benchmarks"]
    if "e2e" in results:
        e2e = results["e2e"]
        minutes = e2e["audio_seconds"] / 60
        rows.append(
            (
                f"Local engine, {minutes:.0f}-min speech file: wall time",
                f"{e2e['platform']['wall_seconds']:.1f} s (API + qcluster, 2 workers)",
                f"{e2e['bare']['wall_seconds']:.1f} s (bare faster-whisper, mean of 2)",
                f"{e2e['ratio_wall']:.2f}x",
            )
        )
        if "ratio_busiest_process_cpu" in e2e:
            rows.append(
                (
                    "Local engine: CPU time of the busiest process (idle-machine bound)",
                    f"{e2e['platform']['busiest_process_cpu_seconds']:.1f} s",
                    f"{e2e['bare']['cpu_seconds']:.1f} s (bare, one thread)",
                    f"{e2e['ratio_busiest_process_cpu']:.2f}x",
                )
            )
        rows.append(
            (
                "Local engine: CPU time",
                f"{e2e['platform']['cluster_cpu_seconds']:.1f} s (all cluster processes)",
                f"{e2e['bare']['cpu_seconds']:.1f} s",
                f"{e2e['ratio_cpu']:.2f}x",
            )
        )
        if "bare_batched" in e2e:
            rows.append(
                (
                    "Local engine: wall time vs faster-whisper's batched pipeline alone",
                    f"{e2e['platform']['wall_seconds']:.1f} s",
                    f"{e2e['bare_batched']['wall_seconds']:.1f} s (one process, same pipeline)",
                    f"{e2e['ratio_wall_to_bare_batched']:.2f}x",
                )
            )
        rows.append(
            (
                "Local engine: WER against the known text",
                f"{e2e['platform']['wer']:.1%}",
                f"{e2e['bare']['wer']:.1%}",
                "",
            )
        )
    if "api" in results:
        api = results["api"]
        for name, label in (("list", "list, page of 20 of 10,000"), ("detail", "detail")):
            rows.append(
                (
                    f"API `GET` {label}",
                    _latency(api[name]),
                    f"{_latency(api['bare'])} (bare JsonResponse)",
                    f"{api[name]['ratio_to_bare']:.2f}x",
                )
            )
            if f"ninja_{name}" in api:
                rows.append(
                    (
                        f"API `GET` {name} vs plain django-ninja (JWT, page of 20)",
                        _latency(api[name]),
                        _latency(api[f"ninja_{name}"]),
                        f"{api[name]['ratio_to_ninja']:.2f}x",
                    )
                )
                rows.append(
                    (
                        f"API `GET` {name} vs DRF `ModelViewSet` (JWT, page of 20)",
                        _latency(api[name]),
                        _latency(api[f"drf_{name}"]),
                        f"{api[name]['ratio_to_drf']:.2f}x",
                    )
                )
        if "paced" in api:
            rows.extend(_paced_rows(api["paced"]))
        if "many_users" in api:
            many = api["many_users"]
            low, high = (ms / 1000 for ms in many["think_ms"])
            rows.append(
                (
                    f"API list, {many['users']:,} connections at once "
                    f"(each user waits {low:.0f} to {high:.0f} s between requests)",
                    f"{_latency(many)}, {many['non_2xx']} errors"
                    + (f", {many['socket_errors']}" if many["socket_errors"] else ""),
                    "",
                    "",
                )
            )
    if "queue" in results:
        queue = results["queue"]
        rows.append(
            (
                "Queue: throughput (FakeEngine, zero latency, "
                f"`CONN_MAX_AGE = {queue['cluster']['conn_max_age']}`)",
                f"{queue['pipeline_fake_engine']['per_second']:.1f} jobs/s",
                f"{queue['raw_noop']['per_second']:.1f} no-op tasks/s (raw django-q2)",
                f"{queue['ratio_jobs_to_noop_tasks']:.2f}x",
            )
        )
        if "transactions_per_job" in queue["pipeline_fake_engine"]:
            rows.append(
                (
                    "Queue: database transactions (PostgreSQL statistics, `save_limit "
                    f"{queue['cluster'].get('save_limit')}`)",
                    f"{queue['pipeline_fake_engine']['transactions_per_job']:.1f} per job",
                    f"{queue['raw_noop']['transactions_per_task']:.1f} per no-op task",
                    "",
                )
            )
        job, task = queue["pipeline_fake_engine"], queue["raw_noop"]
        if "cluster_cpu_ms_per_job" in job:
            decode = queue.get("decode_and_plan_cpu_ms_per_job")
            rows.append(
                (
                    "Queue: CPU per job (cluster processes + PostgreSQL backends)",
                    f"{job['cluster_cpu_ms_per_job']:.1f} + {job['postgres_cpu_ms_per_job']:.1f}"
                    " ms"
                    + (f" (decoding and planning the 5 s clip: {decode:.1f} ms)" if decode else ""),
                    f"{task['cluster_cpu_ms_per_task']:.1f} + "
                    f"{task['postgres_cpu_ms_per_task']:.1f} ms per no-op task",
                    "",
                )
            )
        slow = queue["conn_max_age_0"]
        rows.append(
            (
                "Queue: the same with `CONN_MAX_AGE = 0`",
                f"{slow['pipeline_fake_engine']['per_second']:.1f} jobs/s",
                f"{slow['raw_noop']['per_second']:.1f} no-op tasks/s (raw django-q2)",
                f"{slow['ratio_jobs_to_noop_tasks']:.2f}x",
            )
        )
    if "memory" in results:
        memory = results["memory"]
        rows.append(
            (
                f"Worker peak RSS, {memory['audio_seconds'] / 60:.0f}-min file (local engine)",
                f"{memory['largest_process_peak_rss_mib']:.0f} MiB "
                f"(cluster total {memory['cluster_total_peak_rss_mib']:.0f} MiB)",
                f"{memory['largest_idle_process_rss_mib']:.0f} MiB (idle worker)",
                "",
            )
        )
    if "analytics" in results:
        analytics = results["analytics"]
        for name, figures in analytics["endpoints"].items():
            rows.append(
                (
                    f"Analytics `{name}`, {analytics['rows']['events']:,} events, "
                    f"{analytics['period_days']} days, uncached",
                    f"p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms",
                    f"p50 {analytics['bare']['p50_ms']:.1f} ms (bare JsonResponse)",
                    f"{figures['ratio_to_bare']:.1f}x",
                )
            )
    if "streams" in results:
        streams = results["streams"]
        platform, django = streams["platform"], streams["django"]
        rows.append(
            (
                f"{streams['streams']} idle SSE streams, one uvicorn process: threads added",
                f"{platform['threads_added']} (RSS +{platform['rss_added_mib']:.0f} MiB, "
                f"+{platform['database_connections_added']} DB connections)",
                f"{django['threads_added']} (RSS +{django['rss_added_mib']:.0f} MiB, "
                f"+{django['database_connections_added']} DB connections; Django's ASGI handler)",
                f"{streams['ratio_threads_added']:.2f}x",
            )
        )
        rows.append(
            (
                f"One job event to all {streams['streams']} streams",
                f"{platform['event_to_all_streams_ms']:.0f} ms "
                f"(p50 {platform['event_p50_ms']:.0f} ms)",
                f"{django['event_to_all_streams_ms']:.0f} ms (p50 {django['event_p50_ms']:.0f} ms)",
                "",
            )
        )
    if "billing" in results:
        billing = results["billing"]
        rows.append(
            (
                "Create endpoint (6 s WAV upload) with the billing app and limits set",
                f"median {billing['billing_on']['median_ms']:.1f} ms, "
                f"p90 {billing['billing_on']['p90_ms']:.1f} ms",
                f"median {billing['billing_off']['median_ms']:.1f} ms, "
                f"p90 {billing['billing_off']['p90_ms']:.1f} ms (billing app not installed)",
                f"{billing['ratio_median']:.2f}x",
            )
        )
    if "load" in results:
        load = results["load"]["total"]
        users, seconds = results["load"]["users"], results["load"]["seconds"]
        rows.append(
            (
                f"Load: list/detail/create/upload, {users} connections, {seconds:.0f} s "
                "(shipped gunicorn config)",
                f"{load['requests_per_second']:,.0f} req/s (p50 {load['p50_ms']:.0f} ms, "
                f"p99 {load['p99_ms']:.0f} ms), {load['errors']} errors "
                f"of {load['requests']:,}",
                "",
                "",
            )
        )
    if "multilingual" in results:
        rows.extend(_multilingual_rows(results["multilingual"]))
    lines = [
        "| Benchmark | transcription_platform | Baseline | Ratio |",
        "| --- | --- | --- | --- |",
        *(f"| {' | '.join(row)} |" for row in rows),
    ]
    info = report["machine"]
    lines += [
        "",
        f"Measured {report['measured_at']} at commit `{report['commit']}` on "
        f"{info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB, no GPU, "
        f"Python {info['python']}, PostgreSQL {info['postgresql']}.",
    ]
    return "\n".join(lines) + "\n"


def write_report(results: dict[str, Any]) -> dict[str, Any]:
    path = RESULTS / "latest.json"
    previous = json.loads(path.read_text()) if path.is_file() else {}
    report = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        # A subset run keeps the other benchmarks' last figures (each carries its date).
        "benchmarks": {**previous.get("benchmarks", {}), **results},
    }
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "latest.md").write_text(to_markdown(report))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of {', '.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="short files and runs, nothing written: a smoke test"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, write no results")
    parser.add_argument(
        "--json", metavar="PATH", help="also write the whole report as JSON to PATH"
    )
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(only) - set(BENCHMARKS))
    if unknown or not only:
        parser.error(f"--only takes {', '.join(BENCHMARKS)}; got {args.only!r}")

    workdir = Path(tempfile.mkdtemp(prefix="tp-bench-"))
    # Before the settings are imported: this process and its children share the media.
    os.environ["BENCH_MEDIA_ROOT"] = str(workdir / "media")
    from benchmarks import settings

    try:
        harness.reset_database(settings.DATABASE_URL)
        harness.setup_django()
        results = run_benchmarks(only, args.quick, workdir)
        report = (
            {
                "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "commit": commit(),
                "machine": machine(),
                "benchmarks": results,
            }
            if args.no_write or args.quick
            else write_report(results)
        )
    except harness.BenchmarkError as exc:
        print(f"benchmark failed: {exc}\n(logs in {workdir})", file=sys.stderr)
        return 1
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(to_markdown(report))
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
