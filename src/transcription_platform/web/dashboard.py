"""The figures of the staff dashboard, gathered from the services of the installed apps.

Each part is present only when the app behind it is installed: no billing → no cost,
no health → no worker heartbeat, no analytics → no funnel or cohorts.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.utils import timezone

from transcription_platform.transcriptions import services as transcriptions
from transcription_platform.web import charts


def _days(since: datetime, until: datetime) -> list[date]:
    first, last = timezone.localdate(since), timezone.localdate(until)
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _usage_series(days: list[date], since: datetime) -> dict[str, Any]:
    """Minutes (and cost with billing) per day: the billing ledger when installed, else
    the completed jobs' durations."""
    minutes = dict.fromkeys(days, 0.0)
    cost = dict.fromkeys(days, Decimal(0))
    currency = ""
    if apps.is_installed("transcription_platform.billing"):
        from transcription_platform.billing import services as billing

        for row in billing.daily_totals(since):
            if row["day"] in minutes:
                minutes[row["day"]] += row["audio_seconds"] / 60
                cost[row["day"]] += row["cost"]
                currency = currency or row["currency"]
    else:
        for row in transcriptions.completed_audio_by_day(since):
            if row["day"] in minutes:
                minutes[row["day"]] += row["audio_seconds"] / 60
    series: dict[str, Any] = {
        "rows": [
            {"day": day, "minutes": minutes[day], "cost": cost[day] if currency else None}
            for day in days
        ],
        "total_minutes": sum(minutes.values()),
        "minutes_chart": charts.time_series(
            days, list(minutes.values()), title="Audio minutes transcribed per day"
        ),
        "currency": currency,
    }
    if currency:
        series["total_cost"] = sum(cost.values(), Decimal(0))
        series["cost_chart"] = charts.time_series(
            days, [float(v) for v in cost.values()], title=f"Cost per day ({currency})", kind="line"
        )
    return series


def _engines(since: datetime) -> list[dict[str, Any]]:
    rows = transcriptions.engine_performance(since)
    for row in rows:
        finished = row["completed"] + row["failed"]
        row["success_rate"] = row["completed"] / finished if finished else None
        # Seconds of processing per second of audio: below 1 is faster than real time.
        row["real_time_factor"] = (
            row["processing_seconds"] / row["audio_seconds"] if row["audio_seconds"] else None
        )
        row["audio_minutes"] = row["audio_seconds"] / 60
    return rows


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f}%"


def _heat(rate: float | None) -> int:
    """0 to 4: how dark a retention cell is (CSS classes ``heat-0`` to ``heat-4``)."""
    return 0 if not rate else min(4, 1 + int(rate * 4))


def _analytics(since: datetime, until: datetime, viewer: Any) -> dict[str, Any] | None:
    """Headline product metrics, the funnel and weekly cohorts from the analytics app,
    for a viewer its endpoints would answer (a billing-role viewer sees none of it)."""
    if not apps.is_installed("transcription_platform.analytics"):
        return None
    from transcription_platform.analytics import services as analytics

    if not analytics.may_read_analytics(viewer):
        return None

    start, end = timezone.localdate(since), timezone.localdate(until)
    overview = analytics.overview(start, end)
    funnel = analytics.funnel(start, end)
    retention = analytics.retention(start, end)
    tiles = [
        ("Sign-ups", overview["signups"]),
        ("Activation", _percent(overview["activation_rate"])),
        ("DAU / WAU / MAU", f"{overview['dau']} / {overview['wau']} / {overview['mau']}"),
        (f"Revenue ({overview['currency']})", f"{Decimal(overview['revenue']):.2f}"),
        ("Gross margin", _percent(overview["gross_margin"])),
    ]
    longest = max((len(cohort["retention"]) for cohort in retention["cohorts"]), default=0)
    return {
        "tiles": [{"label": label, "value": value} for label, value in tiles],
        "funnel": funnel["steps"],
        "funnel_chart": charts.horizontal_bars(
            [(step["step"].capitalize(), step["users"]) for step in funnel["steps"]],
            title="Users at each step of the funnel (signed up in the period)",
        ),
        "retention": {
            "periods": [f"Week {n}" for n in range(longest)],
            "rows": [
                {
                    "label": cohort["cohort"],
                    "size": cohort["users"],
                    "cells": [
                        {"rate": None if rate is None else rate * 100, "level": _heat(rate)}
                        for rate in cohort["retention"]
                    ],
                }
                for cohort in retention["cohorts"]
            ],
        },
        "engines": analytics.engines(start, end)["engines"],
    }


def dashboard_context(viewer: Any, days: int = 30) -> dict[str, Any]:
    """Everything the dashboard template shows, for the last ``days`` days.

    Args:
        viewer: The user looking (the analytics part follows its own access rule).
        days: Length of the period, ending now.

    Returns:
        ``period``, ``usage`` (series and charts), ``engines``, ``queue`` and, with
        their apps installed, ``heartbeats`` (health) and ``analytics``.
    """
    until = timezone.now()
    since = timezone.localtime(until - timedelta(days=days - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    engines = _engines(since)
    context: dict[str, Any] = {
        "period": {"days": days, "since": since, "until": until},
        "usage": _usage_series(_days(since, until), since),
        "engines": engines,
        "jobs": {
            "total": sum(row["jobs"] for row in engines),
            "completed": sum(row["completed"] for row in engines),
            "failed": sum(row["failed"] for row in engines),
        },
        "queue": transcriptions.queue_snapshot(),
        "billing_installed": apps.is_installed("transcription_platform.billing"),
    }
    if apps.is_installed("transcription_platform.health"):
        from transcription_platform.health import services as health

        context["heartbeats"] = health.worker_heartbeats()
    context["analytics"] = _analytics(since, until, viewer)
    return context
