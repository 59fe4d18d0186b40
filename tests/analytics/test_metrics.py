"""Every figure of every metric over a known history (tests.fixtures.analytics), in
Europe/Paris across the March 2026 DST change and the March/April month boundary.

The same assertions run on SQLite and on PostgreSQL (``DATABASE_URL``).
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.fixtures.analytics import ANALYTICS_SETTINGS, TIME_ZONE, build_history
from transcription_platform.analytics import services

pytestmark = pytest.mark.django_db

MARCH = {"from": "2026-03-01", "to": "2026-03-31", "time_zone": TIME_ZONE}
SPRING = {"from": "2026-03-01", "to": "2026-04-30", "time_zone": TIME_ZONE}


@pytest.fixture(autouse=True)
def history(settings):
    settings.TIME_ZONE = TIME_ZONE
    settings.TRANSCRIPTION_PLATFORM = {**settings.TRANSCRIPTION_PLATFORM, **ANALYTICS_SETTINGS}
    return build_history()


def test_overview_of_march() -> None:
    assert services.overview(date(2026, 3, 1), date(2026, 3, 31)) == {
        "period": MARCH,
        "currency": "USD",
        # ann, ben, cat (00:30 on 30 March in Paris, still the 29th in UTC) and dan; eve
        # signed up at 00:30 on 1 April in Paris (31 March in UTC).
        "signups": 4,
        "activated_users": 3,
        "activation_rate": 0.75,
        "dau": 2,  # 31 March: ann (t3) and dan (signup)
        "wau": 3,  # 25-31 March: ann, cat, dan
        "mau": 4,  # 2-31 March: ann, ben, cat, dan
        "transcriptions": 5,
        "audio_seconds": 510.0,
        "failures": {"total": 1, "by_error_code": {"engine_rejected": 1}},
        # 0.012 + 0.006 + 0.030 + 0.005 + 0.010 (analysis); the BYOK step costs nothing.
        "cost": "0.063000",
        # (2 + 1) min * 0.02 (ann) + 5 min * 0.01 (ben, Pro) + 0.5 min * 0.02 (cat).
        "revenue": "0.120000",
        "gross_margin": 0.475,
    }


def test_overview_of_april() -> None:
    assert services.overview(date(2026, 4, 1), date(2026, 4, 30)) == {
        "period": {"from": "2026-04-01", "to": "2026-04-30", "time_zone": TIME_ZONE},
        "currency": "USD",
        "signups": 1,
        "activated_users": 0,
        "activation_rate": 0.0,
        "dau": 0,
        "wau": 0,
        "mau": 2,  # cat (6 April), eve (1 and 2 April)
        "transcriptions": 2,
        "audio_seconds": 0.0,
        "failures": {"total": 2, "by_error_code": {"audio_too_long": 1, "engine_rejected": 1}},
        "cost": "0.000000",
        "revenue": "0.000000",
        "gross_margin": None,
    }


def test_empty_period_has_no_rates() -> None:
    body = services.overview(date(2025, 1, 1), date(2025, 1, 31))
    assert (body["signups"], body["activation_rate"], body["gross_margin"]) == (0, None, None)
    assert services.funnel(date(2025, 1, 1), date(2025, 1, 31))["steps"][1] == {
        "step": "activation",
        "users": 0,
        "rate": None,
    }


def test_funnel_of_march() -> None:
    # eve, ann's referral, signed up in April: no referral yet within March.
    assert services.funnel(date(2026, 3, 1), date(2026, 3, 31)) == {
        "period": MARCH,
        "steps": [
            {"step": "acquisition", "users": 4, "rate": 1.0},
            {"step": "activation", "users": 3, "rate": 0.75},
            {"step": "retention", "users": 2, "rate": 0.5},  # ann and ben came back
            {"step": "referral", "users": 0, "rate": 0.0},
            {"step": "revenue", "users": 3, "rate": 0.75},
        ],
    }


def test_funnel_of_spring() -> None:
    assert services.funnel(date(2026, 3, 1), date(2026, 4, 30)) == {
        "period": SPRING,
        "steps": [
            {"step": "acquisition", "users": 5, "rate": 1.0},
            {"step": "activation", "users": 3, "rate": 0.6},
            {"step": "retention", "users": 3, "rate": 0.6},  # + cat, back on 6 April
            {"step": "referral", "users": 1, "rate": 0.2},  # ann brought eve
            {"step": "revenue", "users": 3, "rate": 0.6},
        ],
    }


def test_weekly_cohorts_across_the_month_boundary_and_dst() -> None:
    assert services.retention(date(2026, 3, 1), date(2026, 4, 30)) == {
        "period": SPRING,
        "cohort": "week",
        "cohorts": [
            {
                "cohort": "2026-03-02",  # ann and ben (Sunday 23:30 in Paris)
                "users": 2,
                "active": [2, 1, 1, 0, 1, 0, 0, 0, 0],
                "retention": [1.0, 0.5, 0.5, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0],
            },
            {
                # cat (Monday 00:30 after the change; UTC says Sunday 29, the week
                # before), dan and eve (1 April): one cohort over two months.
                "cohort": "2026-03-30",
                "users": 3,
                "active": [3, 1, 0, 0, 0],
                "retention": [1.0, 0.3333, 0.0, 0.0, 0.0],
            },
        ],
    }


def test_retention_stops_at_the_end_of_the_period() -> None:
    assert services.retention(date(2026, 3, 1), date(2026, 4, 1))["cohorts"] == [
        {
            "cohort": "2026-03-02",
            "users": 2,
            "active": [2, 1, 1, 0, 1],
            "retention": [1.0, 0.5, 0.5, 0.0, 0.5],
        },
        {"cohort": "2026-03-30", "users": 3, "active": [3], "retention": [1.0]},
    ]


@pytest.mark.parametrize(
    ("metric", "interval", "start", "end", "points"),
    [
        ("signups", "month", "2026-03-01", "2026-04-30", [("2026-03-01", 4), ("2026-04-01", 1)]),
        (
            "signups",
            "day",
            "2026-03-29",
            "2026-04-01",
            [("2026-03-29", 0), ("2026-03-30", 1), ("2026-03-31", 1), ("2026-04-01", 1)],
        ),
        (
            "signups",
            "week",
            "2026-03-01",
            "2026-04-05",
            [
                ("2026-02-23", 0),
                ("2026-03-02", 2),
                ("2026-03-09", 0),
                ("2026-03-16", 0),
                ("2026-03-23", 0),
                ("2026-03-30", 3),
            ],
        ),
        (
            "active_users",
            "week",
            "2026-03-01",
            "2026-04-12",
            [
                ("2026-02-23", 0),
                ("2026-03-02", 2),
                ("2026-03-09", 1),
                ("2026-03-16", 1),
                ("2026-03-23", 0),
                ("2026-03-30", 4),
                ("2026-04-06", 1),
            ],
        ),
        (
            "activations",
            "day",
            "2026-03-01",
            "2026-03-03",
            [("2026-03-01", 0), ("2026-03-02", 1), ("2026-03-03", 0)],
        ),
        (
            "transcriptions",
            "month",
            "2026-03-01",
            "2026-04-30",
            [("2026-03-01", 5), ("2026-04-01", 2)],
        ),
        ("completed", "month", "2026-03-01", "2026-04-30", [("2026-03-01", 4), ("2026-04-01", 0)]),
        ("failures", "month", "2026-03-01", "2026-04-30", [("2026-03-01", 1), ("2026-04-01", 2)]),
        (
            "audio_seconds",
            "week",
            "2026-03-23",
            "2026-04-05",
            [("2026-03-23", 0.0), ("2026-03-30", 90.0)],
        ),
        (
            "cost",
            "month",
            "2026-03-01",
            "2026-04-30",
            [("2026-03-01", "0.063000"), ("2026-04-01", "0.000000")],
        ),
        (
            "revenue",
            "day",
            "2026-03-30",
            "2026-03-31",
            [("2026-03-30", "0.010000"), ("2026-03-31", "0.020000")],
        ),
    ],
)
def test_timeseries(metric, interval, start, end, points) -> None:
    body = services.timeseries(metric, interval, date.fromisoformat(start), date.fromisoformat(end))
    assert body["period"] == {"from": start, "to": end, "time_zone": TIME_ZONE}
    assert (body["metric"], body["interval"]) == (metric, interval)
    assert body["points"] == [{"start": day, "value": value} for day, value in points]


def test_engines_of_march() -> None:
    assert services.engines(date(2026, 3, 1), date(2026, 3, 31)) == {
        "period": MARCH,
        "currency": "USD",
        "engines": [
            {
                "engine": "default",
                "model": "fake-1",
                "jobs": 4,
                "completed": 3,
                "failed": 1,
                "minutes": 8.0,
                # Processing times 30, 60, 90 s: nearest ranks 2 and 3.
                "median_processing_seconds": 60.0,
                "p95_processing_seconds": 90.0,
                "real_time_factor": 0.375,  # 180 s of work for 480 s of audio
                "failure_rate": 0.25,
                "cost": "0.048000",  # transcription steps only; BYOK costs nothing
                "cost_per_minute": "0.006000",
            },
            {
                "engine": "other",
                "model": "m2",
                "jobs": 1,
                "completed": 1,
                "failed": 0,
                "minutes": 0.5,
                "median_processing_seconds": 12.0,
                "p95_processing_seconds": 12.0,
                "real_time_factor": 0.4,
                "failure_rate": 0.0,
                "cost": "0.005000",
                "cost_per_minute": "0.010000",
            },
        ],
    }


def test_engines_with_only_failures() -> None:
    row = {
        "jobs": 1,
        "completed": 0,
        "failed": 1,
        "minutes": 0.0,
        "median_processing_seconds": None,
        "p95_processing_seconds": None,
        "real_time_factor": None,
        "failure_rate": 1.0,
        "cost": "0.000000",
        "cost_per_minute": None,
    }
    assert services.engines(date(2026, 4, 1), date(2026, 4, 30))["engines"] == [
        {"engine": "default", "model": "fake-1", **row},
        {"engine": "other", "model": "m2", **row},
    ]


def test_percentiles_by_nearest_rank(history) -> None:
    from tests.fixtures.analytics import utc
    from tests.fixtures.transcriptions import make_transcription

    # 20 more jobs of 1..20 s on 1 May: p50 is the 10th value, p95 the 19th.
    for seconds in range(20, 0, -1):
        created = utc(2026, 5, 1, 10, 0)
        job = make_transcription(
            history["dan"],
            "completed",
            created_at=created,
            started_at=created,
            completed_at=created.replace(second=seconds),
            duration=10,
            engine="bulk",
            model="b",
        )
        services.record_transcription_completed(job)
    (row,) = services.engines(date(2026, 5, 1), date(2026, 5, 1))["engines"]
    assert (row["median_processing_seconds"], row["p95_processing_seconds"]) == (10.0, 19.0)


def test_rebuilt_daily_totals_equal_the_live_ones() -> None:
    from transcription_platform.analytics.models import DailyTotal

    fields = [f.name for f in DailyTotal._meta.fields if f.name != "id"]

    def totals():
        return sorted(tuple(str(v) for v in row) for row in DailyTotal.objects.values_list(*fields))

    live = totals()
    # The history's users are spread over several shards, which the rebuild regroups.
    assert DailyTotal.objects.values("shard").distinct().count() > 1
    assert services.rebuild_daily_totals() == len(live) > 0
    assert totals() == live
