"""The create endpoint's cost with the billing app on (limits set: budget rows locked,
usage summed, a reservation inserted) versus off (the app not installed).

Each variant runs in its own process on a fresh test database (PostgreSQL when
``DATABASE_URL`` is set, else SQLite) and posts the same 6 s WAV ``--creates`` times
through the Django test client; jobs are not run (no worker), so the figure is the
request alone: auth, probe, storage, the row, the queue row (ORM broker) and, with
billing, the reservation.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tp_billing \\
        python -m benchmarks.bench_billing --creates 200

``nox -s bench`` runs it as the ``billing`` part (`run`), on its PostgreSQL server.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"billing on": "tests.settings", "billing off": "tests.settings_without_billing"}


def measure(creates: int) -> dict[str, float]:
    """Runs inside a child process whose DJANGO_SETTINGS_MODULE picks the variant."""
    import django
    from django.conf import settings

    # A real queue row (ORM broker), not the tests' sync mode that runs the job inline:
    # set before django.setup(), when django-q2 reads its configuration.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    django.setup()
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    from tests.conftest import API, bearer_client
    from tests.fixtures.audio import write_audio

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        from django.contrib.auth import get_user_model

        settings.TRANSCRIPTION_PLATFORM = {
            **settings.TRANSCRIPTION_PLATFORM,
            "RATE_LIMITS": {"transcription_create": None, "user": None},
            # Generous limits: every create takes the locking path and is accepted.
            "BILLING_DEFAULT_LIMITS": {
                "monthly_audio_seconds": 10**9,
                "monthly_cost": 10**6,
                "concurrent_jobs": 10**6,
            },
        }
        from transcription_platform.conf import settings as platform_settings

        platform_settings.reload()  # a plain assignment sends no setting_changed
        user = get_user_model().objects.create_user("bench", "bench@example.com", "x")
        client = bearer_client(user)
        with tempfile.TemporaryDirectory() as tmp:
            wav = write_audio(Path(tmp) / "six.wav", [(3.0, 440), (1.0, None), (2.0, 660)])
            timings = []
            for _ in range(creates + 5):
                with open(wav, "rb") as handle:
                    start = time.perf_counter()
                    response = client.post(f"{API}/transcriptions/", {"audio_file": handle})
                    timings.append((time.perf_counter() - start) * 1000)
                if response.status_code != 201:
                    raise SystemExit(
                        f"create answered {response.status_code}: {response.content!r}"
                    )
        timings = sorted(timings[5:])  # the first requests warm imports and caches
        return {
            "creates": creates,
            "median_ms": round(statistics.median(timings), 2),
            "p90_ms": round(timings[int(len(timings) * 0.9) - 1], 2),
            "database": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
        }
    finally:
        teardown_databases(databases, verbosity=0)


def _variant(module: str, creates: int, database_url: str | None) -> dict[str, float]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": module}
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env.setdefault("TP_TEST_MEDIA", tempfile.mkdtemp(prefix="tp-bench-billing-"))
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_billing", "--child", "--creates", str(creates)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode:
        raise RuntimeError(f"{module}: {completed.stderr[-3000:]}")
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def run(database_url: str | None = None, *, creates: int = 200, rounds: int = 2) -> dict[str, Any]:
    """Both variants, alternated ``rounds`` times (off, on, off, on…) so a machine that
    slows down during the run weighs on both alike; figures are medians over rounds.

    Args:
        database_url: The PostgreSQL server to create the test databases on (None:
            ``DATABASE_URL`` or SQLite, as the test settings decide).
        creates: Requests per variant and round.
        rounds: How many times each variant runs.

    Returns:
        ``billing_on`` / ``billing_off`` (median and p90 ms per create, database) and
        ``ratio_median`` / ``ratio_p90``, on over off.
    """
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name in ("billing off", "billing on"):
            runs[name].append(_variant(VARIANTS[name], creates, database_url))
    summary: dict[str, Any] = {}
    for name, results in runs.items():
        summary[name.replace(" ", "_")] = {
            "creates": creates * rounds,
            "median_ms": round(statistics.median(r["median_ms"] for r in results), 2),
            "p90_ms": round(statistics.median(r["p90_ms"] for r in results), 2),
            "database": results[0]["database"],
        }
    on, off = summary["billing_on"], summary["billing_off"]
    summary["ratio_median"] = round(on["median_ms"] / off["median_ms"], 3)
    summary["ratio_p90"] = round(on["p90_ms"] / off["p90_ms"], 3)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.creates)))
        return 0
    summary = run(creates=args.creates, rounds=args.rounds)
    for name in ("billing_off", "billing_on"):
        result = summary[name]
        print(
            f"{name:12} {result['database']:11} {result['creates']} creates: "
            f"median {result['median_ms']:.2f} ms, p90 {result['p90_ms']:.2f} ms"
        )
    print(f"ratio (on / off): median {summary['ratio_median']}x, p90 {summary['ratio_p90']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
