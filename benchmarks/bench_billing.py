"""The create endpoint's cost with the billing app on (limits set: budget rows locked,
usage summed, a reservation inserted) versus off (the app not installed).

Each variant runs in its own process on a fresh test database (PostgreSQL when
``DATABASE_URL`` is set, else SQLite) and posts the same 6 s WAV ``--creates`` times
through the Django test client; jobs are not run (no worker), so the figure is the
request alone: auth, probe, storage, the row, the queue row (ORM broker) and, with
billing, the reservation.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tp_billing \\
        python -m benchmarks.bench_billing --creates 200
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--creates", type=int, default=200)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.creates)))
        return 0
    results = {}
    for name, module in VARIANTS.items():
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": module}
        env.setdefault("TP_TEST_MEDIA", tempfile.mkdtemp(prefix="tp-bench-billing-"))
        completed = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_billing", "--child", "--creates",
             str(args.creates)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if completed.returncode:
            sys.stderr.write(completed.stderr[-3000:])
            return completed.returncode
        results[name] = json.loads(completed.stdout.strip().splitlines()[-1])
    for name, result in results.items():
        print(
            f"{name:12} {result['database']:11} {result['creates']} creates: "
            f"median {result['median_ms']:.2f} ms, p90 {result['p90_ms']:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
