"""``/analytics/``: product metrics (analyst role or staff; anyone else gets 404) and
``/referrals/``: a user's own invitation codes.

The bodies are exactly what `transcription_platform.analytics.services` returns; the
schemas below document them in the OpenAPI schema.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from transcription_platform.analytics import services
from transcription_platform.auth import auth_principal, platform_auth
from transcription_platform.exceptions import NotFound
from transcription_platform.schemas import error_responses

router = Router(tags=["analytics"], auth=platform_auth)
referrals_router = Router(tags=["referrals"], auth=platform_auth)


def analysts_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate an operation: anyone but an analyst or staff gets a 404, so the
    endpoints do not reveal themselves to members."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if not services.may_read_analytics(auth_principal(request)):
            raise NotFound("Not found.")
        return view(request, *args, **kwargs)

    return wrapper


class PeriodQuery(Schema):
    start: date | None = Field(
        None, alias="from", description="First local day (TIME_ZONE); default 29 days before."
    )
    end: date | None = Field(
        None, alias="to", description="Last local day, included; default today."
    )


class PeriodOut(Schema):
    from_: str = Field(..., alias="from")
    to: str
    time_zone: str


class FailuresOut(Schema):
    total: int
    by_error_code: dict[str, int]


class OverviewOut(Schema):
    period: PeriodOut
    currency: str
    signups: int
    activated_users: int
    activation_rate: float | None
    dau: int
    wau: int
    mau: int
    transcriptions: int
    audio_seconds: float
    failures: FailuresOut
    cost: str
    revenue: str
    gross_margin: float | None


class FunnelStepOut(Schema):
    step: Literal["acquisition", "activation", "retention", "referral", "revenue"]
    users: int
    rate: float | None


class FunnelOut(Schema):
    period: PeriodOut
    steps: list[FunnelStepOut]


class CohortOut(Schema):
    cohort: str = Field(..., description="First day (Monday) of the signup week.")
    users: int
    active: list[int]
    retention: list[float | None]


class RetentionOut(Schema):
    period: PeriodOut
    cohort: Literal["week"]
    cohorts: list[CohortOut]


class PointOut(Schema):
    start: str
    value: int | float | str


class TimeseriesOut(Schema):
    period: PeriodOut
    metric: str
    interval: str
    points: list[PointOut]


class EngineOut(Schema):
    engine: str
    model: str
    jobs: int
    completed: int
    failed: int
    minutes: float
    median_processing_seconds: float | None
    p95_processing_seconds: float | None
    real_time_factor: float | None
    failure_rate: float | None
    cost: str
    cost_per_minute: str | None


class EnginesOut(Schema):
    period: PeriodOut
    currency: str
    engines: list[EngineOut]


METRIC_RESPONSES = error_responses(400, 404)


@router.get(
    "/overview/",
    operation_id="analytics_overview",
    response={200: OverviewOut, **METRIC_RESPONSES},
    by_alias=True,
    summary="Headline product figures of a period (analyst role or staff)",
)
@analysts_only
def overview(request: HttpRequest, period: Query[PeriodQuery]) -> dict[str, Any]:
    return services.overview(period.start, period.end)


@router.get(
    "/funnel/",
    operation_id="analytics_funnel",
    response={200: FunnelOut, **METRIC_RESPONSES},
    by_alias=True,
    summary="AARRR funnel of the users who signed up in a period (analyst role or staff)",
)
@analysts_only
def funnel(request: HttpRequest, period: Query[PeriodQuery]) -> dict[str, Any]:
    return services.funnel(period.start, period.end)


@router.get(
    "/retention/",
    operation_id="analytics_retention",
    response={200: RetentionOut, **METRIC_RESPONSES},
    by_alias=True,
    summary="Weekly cohort retention table (analyst role or staff)",
)
@analysts_only
def retention(
    request: HttpRequest, period: Query[PeriodQuery], cohort: Literal["week"] = "week"
) -> dict[str, Any]:
    return services.retention(period.start, period.end, cohort=cohort)


@router.get(
    "/timeseries/",
    operation_id="analytics_timeseries",
    response={200: TimeseriesOut, **METRIC_RESPONSES},
    by_alias=True,
    summary="One metric per day, week or month, for charts (analyst role or staff)",
)
@analysts_only
def timeseries(
    request: HttpRequest,
    period: Query[PeriodQuery],
    metric: services.Metric,
    interval: services.Interval = "day",
) -> dict[str, Any]:
    return services.timeseries(metric, interval, period.start, period.end)


@router.get(
    "/engines/",
    operation_id="analytics_engines",
    response={200: EnginesOut, **METRIC_RESPONSES},
    by_alias=True,
    summary="Jobs, minutes, speed, failures and cost per engine and model (analyst or staff)",
)
@analysts_only
def engines(request: HttpRequest, period: Query[PeriodQuery]) -> dict[str, Any]:
    return services.engines(period.start, period.end)


class ReferralCodeOut(Schema):
    code: str
    uses: int
    created_at: datetime


@referrals_router.get(
    "/",
    operation_id="referrals_list",
    response=list[ReferralCodeOut],
    summary="Your referral codes and how many signups each brought",
)
def list_referral_codes(request: HttpRequest) -> Any:
    return services.referral_codes_for(auth_principal(request))[:100]


@referrals_router.post(
    "/",
    operation_id="referrals_create",
    response={201: ReferralCodeOut, **error_responses(409)},
    summary="Create a referral code to invite someone",
)
def create_referral_code(request: HttpRequest) -> Status[Any]:
    return Status(201, services.create_referral_code(auth_principal(request)))
