"""Billing: the only module other apps call.

Reservation model (see docs/billing.md)::

    create ──reserve()──► reserved ──transcription_completed──► settled (+ UsageRecord)
                              └──────transcription_failed/cancelled──► released

`reserve` runs inside the transcription create's transaction: it locks the
budget rows of the owner and of each of their groups that has a budget (always in that
order, so two creates never deadlock), sums what is used this month plus what is
reserved, and either inserts a `Reservation` or raises a 402 ``quota_exceeded``
that rolls the whole create back. The ledger (`UsageRecord`) is written from the
platform's completion signals, once per step thanks to a unique idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.apps import apps
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from transcription_platform.billing import prices
from transcription_platform.billing.error_codes import BillingErrorCode
from transcription_platform.billing.models import (
    Budget,
    Reservation,
    ReservationStatus,
    Step,
    UsageRecord,
)
from transcription_platform.billing.signals import quota_exceeded, usage_recorded
from transcription_platform.conf import settings
from transcription_platform.exceptions import NotFound, TranscriptionPlatformError

logger = logging.getLogger("transcription_platform.billing")

LIMIT_NAMES = ("monthly_audio_seconds", "monthly_cost", "concurrent_jobs")
ZERO = Decimal(0)


class QuotaExceeded(TranscriptionPlatformError):
    """402: the request would go over a budget; nothing was stored."""

    status_code = 402
    code = BillingErrorCode.QUOTA_EXCEEDED.value
    default_message = "This request would exceed your usage limits."

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Run by the refused create once its transaction has rolled back.
        self.after_rollback: list[Callable[[], object]] = []


# --------------------------------------------------------------------------- periods


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of the calendar month of ``now``, in UTC."""
    now = (now or timezone.now()).astimezone(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


# --------------------------------------------------------------------------- limits


@dataclass(frozen=True)
class Usage:
    audio_seconds: Decimal
    cost: Decimal
    jobs: int

    def get(self, limit: str) -> Decimal | int:
        values: dict[str, Decimal | int] = {
            "monthly_audio_seconds": self.audio_seconds,
            "monthly_cost": self.cost,
            "concurrent_jobs": self.jobs,
        }
        return values[limit]


def default_limits() -> dict[str, Any]:
    values = settings.BILLING_DEFAULT_LIMITS
    return {name: values.get(name) for name in LIMIT_NAMES}


def _budget_limits(budget: Budget | None, fallback: dict[str, Any]) -> dict[str, Any]:
    """The budget's limits, each empty one taken from ``fallback``."""
    limits = {}
    for name in LIMIT_NAMES:
        value = getattr(budget, name) if budget is not None else None
        limits[name] = value if value is not None else fallback.get(name)
    return limits


def _user_limits(budget: Budget | None) -> dict[str, Any]:
    return _budget_limits(budget, default_limits())


def _scope_filter(budget_scope: str, scope_id: Any) -> Q:
    return Q(owner_id=scope_id) if budget_scope == "user" else Q(owner__groups__id=scope_id)


def usage_of(budget_scope: str, scope_id: Any, now: datetime | None = None) -> Usage:
    """What a user (``"user"``) or every member of a group (``"group"``) used this month,
    reservations of jobs in flight included. BYOK steps cost the budget nothing."""
    start, _ = month_bounds(now)
    owners = _scope_filter(budget_scope, scope_id)
    records = UsageRecord.objects.filter(owners, created_at__gte=start)
    recorded = records.aggregate(
        audio=Sum("audio_seconds", filter=Q(step=Step.TRANSCRIPTION)),
        cost=Sum("cost", filter=Q(byok=False)),
    )
    held = Reservation.objects.filter(owners, status=ReservationStatus.RESERVED).aggregate(
        audio=Sum("audio_seconds"), cost=Sum("estimated_cost"), jobs=Count("pk")
    )
    return Usage(
        audio_seconds=(recorded["audio"] or ZERO) + (held["audio"] or ZERO),
        cost=(recorded["cost"] or ZERO) + (held["cost"] or ZERO),
        jobs=held["jobs"] or 0,
    )


def _number(value: Decimal | int | None) -> float | int | None:
    if value is None or isinstance(value, int):
        return value
    return int(value) if value == value.to_integral_value() else float(value)


def _check(
    budget_scope: str, scope_id: Any, limits: dict[str, Any], requested: dict[str, Any]
) -> dict[str, Any] | None:
    """The details of the first limit ``requested`` would break, or None."""
    if all(limit is None for limit in limits.values()):
        return None
    used = usage_of(budget_scope, scope_id)
    _, resets_at = month_bounds()
    for name in LIMIT_NAMES:
        limit = limits[name]
        if limit is None:
            continue
        limit = Decimal(str(limit))
        remaining = limit - used.get(name)
        # Exhausted budgets refuse even a free job: its real cost is not known yet.
        if requested[name] > remaining or remaining <= 0:
            return {
                "limit": name,
                "scope": budget_scope,
                "value": _number(limit),
                "used": _number(used.get(name)),
                "remaining": _number(max(remaining, ZERO)),
                "requested": _number(requested[name]),
                "resets_at": None if name == "concurrent_jobs" else resets_at.isoformat(),
            }
    return None


# --------------------------------------------------------------------------- reserve


def _engine_estimate(owner: Any, engine: str, duration: float | None) -> tuple[Decimal, bool]:
    """(estimated cost, byok) of transcribing ``duration`` seconds with ``engine``."""
    from transcription_platform.engines import get_engine

    seconds = Decimal(str(duration or 0))
    try:
        engine_obj = get_engine(engine)
    except TranscriptionPlatformError:
        return ZERO, False
    byok = _owner_key_pays(owner, engine, engine_obj)
    cost = prices.step_cost(prices.prices_on(engine_obj.model, date.today()), audio_seconds=seconds)
    return (ZERO if byok else cost), byok


def _owner_key_pays(owner: Any, engine: str, engine_obj: Any) -> bool:
    # The same test the pipeline applies before sending a user's key to an engine.
    if not hasattr(engine_obj, "base_url") or not apps.is_installed(
        "transcription_platform.accounts"
    ):
        return False
    from transcription_platform.accounts.services import provider_api_key_for

    return provider_api_key_for(owner, engine=engine) is not None


def _budget_rows(owner: Any, create_user_row: bool) -> list[Budget]:
    """The owner's and their groups' budget rows, locked, user first then groups by pk."""
    locked = Budget.objects.select_for_update()
    rows: list[Budget] = []
    if create_user_row:
        Budget.objects.get_or_create(user_id=owner.pk)
    user_row = locked.filter(user_id=owner.pk).first()
    if user_row is not None:
        rows.append(user_row)
    group_ids = list(owner.groups.values_list("pk", flat=True))
    if group_ids:
        rows.extend(locked.filter(group_id__in=group_ids).order_by("pk"))
    return rows


def reserve(*, owner: Any, transcription_id: Any, engine: str, duration: float | None) -> None:
    """Hold the estimated usage of a new job against every budget of ``owner``.

    Called by the transcription create inside its transaction; raises
    `QuotaExceeded` (402, details: limit, scope, value, used, remaining,
    requested, resets_at) when any budget — the user's or one of their groups' — would
    be exceeded, which rolls the whole create back.
    """
    cost, _byok = _engine_estimate(owner, engine, duration)
    requested: dict[str, Decimal | int] = {
        "monthly_audio_seconds": Decimal(str(duration or 0)),
        "monthly_cost": cost,
        "concurrent_jobs": 1,
    }
    with transaction.atomic():
        has_defaults = any(v is not None for v in default_limits().values())
        for budget in _budget_rows(owner, create_user_row=has_defaults):
            limits = _user_limits(budget) if budget.user_id else _budget_limits(budget, {})
            scope_id = budget.user_id or budget.group_id
            refusal = _check(budget.scope, scope_id, limits, requested)
            if refusal is not None:
                refused = QuotaExceeded(
                    f"This job would exceed the {budget.scope}'s {refusal['limit']} limit.",
                    details=refusal,
                )
                # Not now: this transaction is about to be rolled back, and a receiver
                # that writes (a notification, a counter) would see its write undone.
                # The create runs these once its transaction has rolled back.
                refused.after_rollback.append(
                    partial(quota_exceeded.send_robust, sender=None, user=owner, details=refusal)
                )
                raise refused
        Reservation.objects.create(
            transcription_id=str(transcription_id),
            owner_id=owner.pk,
            audio_seconds=requested["monthly_audio_seconds"],
            estimated_cost=cost,
        )


def adjust_reservation(*, owner: Any, transcription_id: Any, engine: str, duration: float) -> None:
    """A worker starts the job knowing its decoded length: hold that, within budget.

    Called by the worker once the chunks are planned, and when it resumes a job whose
    chunks exist (``transcription_planned_hooks``). Two holes it closes:

    - a header may claim 0.2 s for an hour of audio, and the create reserved that
      claim: the difference is checked against every budget of ``owner`` as a create
      is (concurrent jobs aside: this job already holds its slot) and added;
    - a failed job's reservation was released, and a retry would otherwise run
      unbudgeted: its reservation is taken again, checked like a new job's.

    Raises:
        QuotaExceeded: The job would go over a budget; it then fails with
            ``quota_exceeded`` and its reservation is released (nothing charged).
    """
    seconds = Decimal(str(duration)).quantize(Decimal("0.001"))
    cost, _byok = _engine_estimate(owner, engine, duration)
    refusal = None
    with transaction.atomic():
        has_defaults = any(v is not None for v in default_limits().values())
        budgets = _budget_rows(owner, create_user_row=has_defaults)  # locks, as reserve()
        reservation = (
            Reservation.objects.select_for_update()
            .filter(transcription_id=str(transcription_id))
            .first()
        )
        if reservation is None or reservation.status == ReservationStatus.SETTLED:
            return  # billing installed after the create, or the job was billed already
        held = reservation.status == ReservationStatus.RESERVED
        if held and seconds <= reservation.audio_seconds:
            return  # the header told the truth (or more)
        requested: dict[str, Decimal | int] = (
            {
                "monthly_audio_seconds": seconds - reservation.audio_seconds,
                "monthly_cost": max(cost - reservation.estimated_cost, ZERO),
                "concurrent_jobs": 0,
            }
            if held
            else {"monthly_audio_seconds": seconds, "monthly_cost": cost, "concurrent_jobs": 1}
        )
        for budget in budgets:
            limits = _user_limits(budget) if budget.user_id else _budget_limits(budget, {})
            if held:
                limits["concurrent_jobs"] = None  # this job already holds its slot
            refusal = _check(budget.scope, budget.user_id or budget.group_id, limits, requested)
            if refusal is not None:
                break
        else:
            Reservation.objects.filter(pk=reservation.pk).update(
                status=ReservationStatus.RESERVED,
                audio_seconds=seconds,
                estimated_cost=max(cost, reservation.estimated_cost) if held else cost,
                finished_at=None,
            )
            return
    assert refusal is not None  # every other path returned
    # Outside the transaction: the worker runs in autocommit, nothing to roll back.
    quota_exceeded.send_robust(sender=None, user=owner, details=refusal)
    reason = "longer than its header said" if held else "retried"
    raise QuotaExceeded(
        f"The audio lasts {seconds:.0f} s ({reason}); transcribing it would exceed the "
        f"{refusal['scope']}'s {refusal['limit']} limit.",
        details=refusal,
    )


def _finish_reservation(transcription_id: Any, status: str) -> None:
    Reservation.objects.filter(
        transcription_id=str(transcription_id), status=ReservationStatus.RESERVED
    ).update(status=status, finished_at=timezone.now())


# --------------------------------------------------------------------------- ledger


def record_usage(
    *,
    key: str,
    owner: Any,
    object_type: str,
    object_id: Any,
    step: str,
    alias: str,
    model: str,
    audio_seconds: float | Decimal | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    byok: bool = False,
    settles: Any = None,
) -> UsageRecord | None:
    """Append one record for ``key``; None when that step was already recorded.

    The unique ``idempotency_key`` makes this exactly-once however often a task or a
    signal is re-delivered. ``settles`` names a transcription whose reservation is
    settled in the same transaction, so budgets never count a job twice or not at all.
    """
    seconds = Decimal(str(audio_seconds or 0)).quantize(Decimal("0.001"))
    price = prices.prices_on(model, timezone.now().date())
    cost = prices.step_cost(
        price, audio_seconds=seconds, input_tokens=input_tokens, output_tokens=output_tokens
    )
    try:
        with transaction.atomic():
            record = UsageRecord.objects.create(
                owner_id=getattr(owner, "pk", None),
                owner_label=owner.get_username()[:150] if owner is not None else "",
                object_type=object_type,
                object_id=str(object_id),
                step=step,
                idempotency_key=key,
                alias=alias[:64],
                model=model[:128],
                audio_seconds=seconds,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                unit_prices=price.as_json(),
                cost=cost,
                currency=settings.BILLING_CURRENCY,
                byok=byok,
            )
            if settles is not None:
                _finish_reservation(settles, ReservationStatus.SETTLED)
            transaction.on_commit(lambda: usage_recorded.send(sender=UsageRecord, record=record))
    except IntegrityError:
        logger.info("Usage %s already recorded", key)
        return None
    return record


def on_transcription_completed(sender: Any, transcription: Any, **kwargs: Any) -> None:
    """``transcription_completed``: record the job's transcription step, settle."""
    usage = transcription.usage or {}
    record_usage(
        key=f"transcription:{transcription.pk}",
        owner=transcription.owner,
        object_type="transcription",
        object_id=transcription.pk,
        step=Step.TRANSCRIPTION,
        alias=transcription.engine,
        model=transcription.model,
        audio_seconds=usage.get("audio_seconds", transcription.duration),
        input_tokens=usage.get("input_tokens"),
        output_tokens=usage.get("output_tokens"),
        byok=_transcription_byok(transcription),
        settles=transcription.pk,
    )


def _transcription_byok(transcription: Any) -> bool:
    from transcription_platform.engines import get_engine

    try:
        engine = get_engine(transcription.engine)
    except TranscriptionPlatformError:
        return False
    return _owner_key_pays(transcription.owner, transcription.engine, engine)


def on_transcription_ended(sender: Any, transcription: Any, **kwargs: Any) -> None:
    """``transcription_failed`` / ``transcription_cancelled``: release the reservation."""
    _finish_reservation(transcription.pk, ReservationStatus.RELEASED)


def on_transcription_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``post_delete`` of a transcription: a job deleted in flight uses nothing more.
    In the delete's own transaction, so a rolled-back delete keeps the reservation."""
    _finish_reservation(instance.pk, ReservationStatus.RELEASED)


def on_analysis_finished(sender: Any, transcription: Any, analysis: Any, **kwargs: Any) -> None:
    """``analysis_completed`` / ``analysis_failed``: record the tokens spent (a failed
    analysis's tokens were spent too). One record per analysis request."""
    if not (analysis.input_tokens or analysis.output_tokens or analysis.model):
        return  # a local analyzer that used nothing billable
    record_usage(
        key=f"analysis:{transcription.pk}:{analysis.requested_at.isoformat()}",
        owner=transcription.owner,
        object_type="transcription",
        object_id=transcription.pk,
        step=Step.ANALYSIS,
        alias=analysis.analyzer,
        model=analysis.model or _analyzer_model(analysis.analyzer),
        input_tokens=analysis.input_tokens,
        output_tokens=analysis.output_tokens,
        byok=_analysis_byok(transcription, analysis.analyzer),
    )


def _analyzer_model(alias: str) -> str:
    from transcription_platform.analysis.services import get_analyzer

    try:
        return str(getattr(get_analyzer(alias), "model", "") or "")
    except TranscriptionPlatformError:
        return ""


def _analysis_byok(transcription: Any, alias: str) -> bool:
    from transcription_platform.analysis.services import get_analyzer, owner_api_key

    try:
        return owner_api_key(transcription, get_analyzer(alias)) is not None
    except TranscriptionPlatformError:
        return False


def reconcile_reservations(older_than_seconds: float = 300) -> int:
    """Settle or release reservations whose job finished without billing hearing of it.

    Signals are sent after the commit that finishes a job; a worker killed in between
    (SIGKILL, OOM) leaves the job completed and its reservation held. This reads each
    reservation older than ``older_than_seconds`` through the transcriptions' services
    and does what the lost signal would have: a completed job gets its usage record
    (exactly once: the idempotency key), a finished or deleted one is released.
    Returns how many reservations it closed. Run it on a schedule (docs/billing.md).
    """
    from transcription_platform.transcriptions.services import (
        TranscriptionStatus,
        find_transcription,
    )

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    held = Reservation.objects.filter(status=ReservationStatus.RESERVED, created_at__lt=cutoff)
    closed = 0
    for transcription_id in held.values_list("transcription_id", flat=True).iterator():
        transcription = find_transcription(transcription_id)
        if transcription is None or transcription.status in (
            TranscriptionStatus.FAILED,
            TranscriptionStatus.CANCELLED,
        ):
            _finish_reservation(transcription_id, ReservationStatus.RELEASED)
        elif transcription.status == TranscriptionStatus.COMPLETED:
            on_transcription_completed(None, transcription)
            _finish_reservation(transcription_id, ReservationStatus.SETTLED)
        else:
            continue  # still pending or processing: the reservation is right
        closed += 1
    return closed


# --------------------------------------------------------------------------- read


def records_for(user: Any) -> QuerySet[UsageRecord]:
    return UsageRecord.objects.filter(owner_id=user.pk)


def all_records() -> QuerySet[UsageRecord]:
    return UsageRecord.objects.all()


def limits_for(user: Any) -> dict[str, Any]:
    """The tightest limit of each kind over the user's and their groups' budgets."""
    user_budget = Budget.objects.filter(user_id=user.pk).first()
    limits = _user_limits(user_budget)
    groups = Budget.objects.filter(group__in=user.groups.all())
    for budget in groups:
        for name in LIMIT_NAMES:
            value = getattr(budget, name)
            if value is not None and (limits[name] is None or value < limits[name]):
                limits[name] = value
    return limits


def money(value: Decimal | None) -> str:
    """``value`` as a decimal string with the ledger's 6 places."""
    return str((value or ZERO).quantize(prices.COST_QUANTUM))


def _seconds(value: Decimal | None) -> float:
    return float(value or 0)


def usage_summary(user: Any) -> dict[str, Any]:
    """``GET /usage/``: this month's usage, limits, remaining and totals by month/step.

    Seconds are numbers, money is a decimal string (no float rounding)."""
    start, end = month_bounds()
    used = usage_of("user", user.pk)
    limits = limits_for(user)
    remaining = {
        name: None
        if limits[name] is None
        else _number(max(Decimal(str(limits[name])) - used.get(name), ZERO))
        for name in LIMIT_NAMES
    }
    records = records_for(user)
    month = records.filter(created_at__gte=start)
    by_step = (
        month.values("step")
        .order_by("step")
        .annotate(
            audio_seconds=Sum("audio_seconds"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost"),
            records=Count("pk"),
        )
    )
    return {
        "period": {"start": start, "end": end, "resets_at": end},
        "currency": settings.BILLING_CURRENCY,
        "used": {
            "audio_seconds": _seconds(used.audio_seconds),
            "cost": money(used.cost),
            "jobs": month.filter(step=Step.TRANSCRIPTION).count(),
            "running_jobs": used.jobs,
        },
        "limits": {name: _number(value) for name, value in limits.items()},
        "remaining": remaining,
        "by_step": [
            {**row, "audio_seconds": _seconds(row["audio_seconds"]), "cost": money(row["cost"])}
            for row in by_step
        ],
        "by_month": monthly_totals(records),
    }


def monthly_totals(records: QuerySet[UsageRecord]) -> list[dict[str, Any]]:
    from django.db.models.functions import TruncMonth

    rows = (
        records.annotate(month=TruncMonth("created_at"))
        .values("month")
        .order_by("-month")
        .annotate(audio_seconds=Sum("audio_seconds"), cost=Sum("cost"), records=Count("pk"))[:24]
    )
    return [
        {**row, "audio_seconds": _seconds(row["audio_seconds"]), "cost": money(row["cost"])}
        for row in rows
    ]


def usage_by_user(since: datetime | None = None) -> QuerySet[UsageRecord, Mapping[str, Any]]:
    """Every user's aggregated usage since ``since`` (default: this month) — numbers
    only, never transcript content (billing and auditor roles)."""
    since = since or month_bounds()[0]
    rows: QuerySet[UsageRecord, Mapping[str, Any]] = (
        UsageRecord.objects.filter(created_at__gte=since)
        .values("owner_id", "owner_label")
        .order_by("owner_label", "owner_id")
        .annotate(
            audio_seconds=Sum("audio_seconds", filter=Q(step=Step.TRANSCRIPTION)),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            total_cost=Sum("cost"),
            charged_cost=Sum("cost", filter=Q(byok=False)),
            records=Count("pk"),
        )
    )
    return rows


def usage_for_transcription(transcription_id: Any) -> dict[str, Any]:
    """The billed usage of one transcription (every step), for its detail view."""
    rows = list(
        UsageRecord.objects.filter(object_type="transcription", object_id=str(transcription_id))
        .order_by("created_at", "pk")
        .values("step", "model", "audio_seconds", "input_tokens", "output_tokens", "cost", "byok")
    )
    return {
        "cost": str(sum((row["cost"] for row in rows), ZERO)),
        "currency": settings.BILLING_CURRENCY,
        "steps": [
            {
                **row,
                "audio_seconds": float(row["audio_seconds"]),
                "cost": str(row["cost"]),
            }
            for row in rows
        ],
    }


def add_usage_to(transcription: Any) -> None:
    """Hook for the transcription detail: its ``usage`` gains cost and billed steps."""
    from transcription_platform.transcriptions.services import TranscriptionStatus

    if transcription.status != TranscriptionStatus.COMPLETED:
        return  # nothing billed yet: status polls stay at two queries
    billed = usage_for_transcription(transcription.pk)
    transcription.usage = {**(transcription.usage or {}), **billed}


def used_this_month(user_id: Any) -> Usage:
    return usage_of("user", user_id)


# --------------------------------------------------------------------------- budgets


def get_budget(scope: str, scope_id: int) -> Budget:
    """The budget of user/group ``scope_id`` (unsaved and empty if none); 404 if the
    user or group does not exist."""
    from django.contrib.auth import get_user_model

    model = get_user_model() if scope == "user" else Group
    if not model.objects.filter(pk=scope_id).exists():
        raise NotFound(f"No such {scope}.")
    field = "user_id" if scope == "user" else "group_id"
    budget = Budget.objects.filter(**{field: scope_id}).first()
    return budget or Budget(**{field: scope_id})


def set_budget(scope: str, scope_id: int, limits: dict[str, Any], *, request: Any = None) -> Budget:
    """Replace the limits of a user's or group's budget and audit the change."""
    with transaction.atomic():
        budget = get_budget(scope, scope_id)
        if budget.pk is not None:
            budget = Budget.objects.select_for_update().get(pk=budget.pk)
        before = {name: _number(getattr(budget, name)) for name in LIMIT_NAMES}
        for name in LIMIT_NAMES:
            setattr(budget, name, limits.get(name))
        budget.save()
        budget.refresh_from_db()  # the stored (rounded) values, as the API returns them
        after = {name: _number(getattr(budget, name)) for name in LIMIT_NAMES}
        _audit_budget_change(budget, before, after, request)
    return budget


def _audit_budget_change(
    budget: Budget, before: dict[str, Any], after: dict[str, Any], request: Any
) -> None:
    if not apps.is_installed("transcription_platform.audit"):
        return
    from transcription_platform.audit.services import log_action

    log_action(
        "settings_changed",
        request=request,
        obj=budget,
        meta={"budget_scope": budget.scope, "before": before, "after": after},
    )


def budgets() -> QuerySet[Budget]:
    return Budget.objects.select_related("user", "group").order_by("pk")


def daily_totals(since: datetime) -> list[dict[str, Any]]:
    """Every user's usage per day (the current time zone) since ``since``, for staff charts.

    Args:
        since: Start of the period (an aware datetime).

    Returns:
        ``[{"day": date, "audio_seconds": float, "cost": Decimal, "currency": str}]``
        for days with usage, oldest first, one row per day and currency.
        ``audio_seconds`` counts the transcription step only (analysis bills tokens).
    """
    from django.db.models.functions import TruncDate

    rows = (
        UsageRecord.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "currency")
        .order_by("day", "currency")
        .annotate(
            audio_seconds=Sum("audio_seconds", filter=Q(step=Step.TRANSCRIPTION)), cost=Sum("cost")
        )
    )
    return [
        {
            "day": row["day"],
            "currency": row["currency"],
            "audio_seconds": _seconds(row["audio_seconds"]),
            "cost": row["cost"] or Decimal(0),
        }
        for row in rows
    ]
