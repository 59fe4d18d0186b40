"""5. Analytics endpoints over 100,000 events on PostgreSQL, uncached.

A year of product history is bulk-inserted into the analytics tables (the rows the
signal receivers write): 5,000 users signing up over the year, 100,000 events
(signups, jobs created, completed and failed on 4 engines, billed usage), the users'
active days, and the daily totals rebuilt from the events
(``services.rebuild_daily_totals``, what the receivers keep up to date one by one).
Each ``/analytics/`` endpoint is then called over HTTP through gunicorn, one request
at a time (a dashboard's load is a few analysts, not a crowd), with the
answer cache off (``ANALYTICS_CACHE_SECONDS = 0``), over the whole year — the widest
period a dashboard asks for. The baseline is the bare ``JsonResponse`` view of the same
server, measured the same way. Bounded: ``REQUESTS`` calls per endpoint.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/tp_analytics_bench \\
        python -m benchmarks.run --only analytics
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from benchmarks import harness

EVENTS = 100_000
USERS = 5_000
REQUESTS = 30
WARMUP = 3
YEAR_END = date(2026, 3, 31)
YEAR_START = YEAR_END - timedelta(days=364)
ENGINES = [
    ("default", "whisper-tiny.en"),
    ("openai", "whisper-1"),
    ("openai", "gpt-4o-mini-transcribe"),
    ("voxtral", "voxtral-mini"),
]
ERROR_CODES = ["engine_rejected", "audio_too_long", "corrupt_audio", "engine_timeout"]

#: Endpoint → query string; the whole year, the heaviest bucket choice of each.
ENDPOINTS = {
    "overview": "",
    "funnel": "",
    "retention": "cohort=week&",
    "timeseries (active_users, day)": "metric=active_users&interval=day&",
    "timeseries (revenue, week)": "metric=revenue&interval=week&",
    "engines": "",
}


def _moment(day: date, rng: random.Random) -> datetime:
    from django.utils import timezone

    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_default_timezone()) + (
        timedelta(seconds=rng.randrange(86_400))
    )


def seed(events: int = EVENTS, users: int = USERS) -> dict[str, int]:
    """Bulk-insert the history; returns how many rows of each table."""
    from django.db import connection

    from transcription_platform.analytics import services
    from transcription_platform.analytics.models import ActiveDay, Event, EventKind, UserStats

    rng = random.Random(15)  # the same history every run
    days = (YEAR_END - YEAR_START).days + 1
    stats, active, rows = [], set(), []
    signup_days = {}
    for user_id in range(1, users + 1):
        day = YEAR_START + timedelta(days=rng.randrange(days))
        at = _moment(day, rng)
        signup_days[user_id] = day
        stats.append(UserStats(user_id=user_id, signed_up_at=at, signup_day=day, active_days=0))
        rows.append(
            Event(key=f"signup:{user_id}", kind=EventKind.SIGNUP, user_id=user_id, occurred_at=at)
        )
        active.add((user_id, day))
    first_completion: dict[int, datetime] = {}
    job = 0
    while len(rows) < events:
        job += 1
        user_id = rng.randrange(1, users + 1)
        first = signup_days[user_id]
        day = first + timedelta(days=min(int(rng.expovariate(1 / 30)), (YEAR_END - first).days))
        created = _moment(day, rng)
        engine, model = rng.choice(ENGINES)
        common = {"user_id": user_id, "object_id": f"job-{job}", "engine": engine, "model": model}
        rows.append(
            Event(
                key=f"created:{job}",
                kind=EventKind.TRANSCRIPTION_CREATED,
                occurred_at=created,
                **common,
            )
        )
        active.add((user_id, day))
        if rng.random() < 0.1:
            rows.append(
                Event(
                    key=f"failed:{job}",
                    kind=EventKind.TRANSCRIPTION_FAILED,
                    occurred_at=created + timedelta(minutes=2),
                    error_code=rng.choice(ERROR_CODES),
                    **common,
                )
            )
            continue
        audio = Decimal(rng.randrange(10, 3600))
        took = float(audio) * rng.uniform(0.05, 0.6)
        done = created + timedelta(seconds=took)
        first_completion.setdefault(user_id, done)
        first_completion[user_id] = min(first_completion[user_id], done)
        rows.append(
            Event(
                key=f"completed:{job}",
                kind=EventKind.TRANSCRIPTION_COMPLETED,
                occurred_at=done,
                audio_seconds=audio,
                processing_seconds=took,
                revenue=(audio / 60 * Decimal("0.02")).quantize(Decimal("0.000001")),
                **common,
            )
        )
        rows.append(
            Event(
                key=f"usage:transcription:{job}",
                kind=EventKind.USAGE,
                occurred_at=done,
                step="transcription",
                audio_seconds=audio,
                cost=(audio / 60 * Decimal("0.006")).quantize(Decimal("0.000001")),
                **common,
            )
        )
    rows = rows[:events]
    for row in stats:
        # Every completion here earns revenue: the first one activates and pays.
        row.activated_at = row.first_paid_at = first_completion.get(row.user_id)
    UserStats.objects.bulk_create(stats, batch_size=2000)
    Event.objects.bulk_create(rows, batch_size=5000)
    totals = services.rebuild_daily_totals()
    ActiveDay.objects.bulk_create(
        (services.active_day(u, d, signup_days[u]) for u, d in sorted(active)), batch_size=5000
    )
    with connection.cursor() as cursor:
        # Steady state, as autovacuum keeps it: fresh statistics and a visibility map.
        cursor.execute("VACUUM ANALYZE")
    return {
        "events": Event.objects.count(),
        "users": UserStats.objects.count(),
        "active_days": ActiveDay.objects.count(),
        "daily_totals": totals,
    }


def _timings(base_url: str, path: str, token: str | None, requests: int) -> dict[str, float]:
    timings = []
    for n in range(requests + WARMUP):
        start = time.perf_counter()
        status, body = harness.call_api(base_url, "GET", path, token=token, timeout=30)
        elapsed = (time.perf_counter() - start) * 1000
        if status != 200:
            raise harness.BenchmarkError(f"GET {path} answered {status}: {body!r}"[:500])
        if n >= WARMUP:
            timings.append(elapsed)
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[max(0, -(-len(timings) * 95 // 100) - 1)], 1),
        "max_ms": round(timings[-1], 1),
    }


def run(base_url: str, events: int = EVENTS, requests: int = REQUESTS) -> dict[str, Any]:
    """Seed, then time every endpoint and the bare view; figures in milliseconds."""
    from django.contrib.auth.models import Group

    from transcription_platform.roles import ANALYST, ROLE_GROUPS

    rows = seed(events, users=min(USERS, max(events // 20, 10)))
    analyst = harness.bench_user("analyst")
    analyst.groups.add(Group.objects.get(name=ROLE_GROUPS[ANALYST]))
    token = harness.access_token(analyst)
    period = f"from={YEAR_START.isoformat()}&to={YEAR_END.isoformat()}"
    bare = _timings(base_url, "/bench/bare/", None, requests)
    endpoints = {}
    for name, query in ENDPOINTS.items():
        path = f"{harness.API}/analytics/{name.split(' ')[0]}/?{query}{period}"
        endpoints[name] = _timings(base_url, path, token, requests)
        endpoints[name]["ratio_to_bare"] = round(endpoints[name]["p50_ms"] / bare["p50_ms"], 1)
    return {
        "rows": rows,
        "requests_per_endpoint": requests,
        "period_days": (YEAR_END - YEAR_START).days + 1,
        "bare": bare,
        "endpoints": endpoints,
        "slowest_p95_ms": max(e["p95_ms"] for e in endpoints.values()),
    }
