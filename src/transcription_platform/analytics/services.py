"""Analytics: the only module other apps (and the staff dashboard) call.

Two halves:

**Recording** (``record_*``): receivers of the platform's signals turn lifecycle events
into rows of `Event`, `ActiveDay` and `UserStats`. Each event has an idempotency key
(``created:<transcription id>``, ``signup:<user id>``…), so a re-delivered signal or a
second ``analytics_backfill`` adds nothing; counters move with ``F()`` expressions in
the same transaction as their event, so concurrent workers never lose an update.

**Reading** (the metrics): `overview`, `funnel`, `retention`, `timeseries` and
`engines` take a period of local days (``TIME_ZONE``; both ends included) and return
plain JSON-ready dicts, exactly the bodies of the ``/analytics/`` endpoints. Every
figure is a database aggregate; answers are cached for ``ANALYTICS_CACHE_SECONDS``.
The definitions of the figures are in docs/analytics.md.

Referrals: a user creates codes (`create_referral_code`); a registration carrying one
is counted by `apply_referral_code` (a ``registration_hooks`` entry of the app).
"""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DateTimeField,
    F,
    FloatField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, Mod, RowNumber, Trunc, TruncDate
from django.utils import timezone

from transcription_platform.analytics.error_codes import AnalyticsErrorCode
from transcription_platform.analytics.models import (
    ActiveDay,
    DailyTotal,
    Event,
    EventKind,
    ReferralCode,
    UserStats,
)
from transcription_platform.conf import settings
from transcription_platform.exceptions import (
    Conflict,
    TranscriptionPlatformError,
    ValidationError,
)
from transcription_platform.roles import ANALYST, has_role

logger = logging.getLogger("transcription_platform.analytics")

ZERO = Decimal(0)
MONEY = Decimal("0.000001")
SECONDS = Decimal("0.001")
Interval = Literal["day", "week", "month"]
Metric = Literal[
    "signups",
    "activations",
    "active_users",
    "transcriptions",
    "completed",
    "failures",
    "audio_seconds",
    "cost",
    "revenue",
]
METRICS: tuple[str, ...] = Metric.__args__  # type: ignore[attr-defined]
INTERVALS: tuple[str, ...] = Interval.__args__  # type: ignore[attr-defined]
#: What counts as a transcription step in the ledger (billing's ``Step.TRANSCRIPTION``).
TRANSCRIPTION_STEP = "transcription"
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(9998, 12, 31)
REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud safely


class InvalidReferralCode(ValidationError):
    code = AnalyticsErrorCode.INVALID_REFERRAL_CODE.value
    default_message = "This referral code does not exist."


class TooManyReferralCodes(Conflict):
    code = AnalyticsErrorCode.TOO_MANY_REFERRAL_CODES.value
    default_message = "You hold the most referral codes allowed."


class InvalidPeriod(ValidationError):
    code = AnalyticsErrorCode.INVALID_PERIOD.value
    default_message = "The period is not valid."


# =========================================================================== recording


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def local_day(moment: datetime) -> date:
    """The calendar day of ``moment`` in the site's ``TIME_ZONE``."""
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _money(value: Decimal | None) -> Decimal:
    return (value or ZERO).quantize(MONEY)


def _create_event(key: str, kind: str, **fields: Any) -> bool:
    """Insert one event; False when its key was already recorded (nothing changes)."""
    try:
        with transaction.atomic():
            Event.objects.create(key=key, kind=kind, **fields)
    except IntegrityError:
        return False
    return True


def active_day(user_id: int, day: date, signup_day: date) -> ActiveDay:
    """An (unsaved) active day of a user, with its week, month and signup week."""
    return ActiveDay(
        user_id=user_id,
        day=day,
        week=week_start(day),
        month=day.replace(day=1),
        signup_day=signup_day,
        signup_week=week_start(signup_day),
    )


def _mark_active(user_id: int, moment: datetime, signup_day: date) -> None:
    """Count ``moment``'s local day as an active day of the user (once per day)."""
    try:
        with transaction.atomic():
            active_day(user_id, local_day(moment), signup_day).save(force_insert=True)
            UserStats.objects.filter(pk=user_id).update(active_days=F("active_days") + 1)
    except IntegrityError:
        pass  # already active that day


def total_shard(user_id: int | None) -> int:
    """The `DailyTotal` row (of ``ANALYTICS_TOTAL_SHARDS``) a user's events add to.

    A user's events already wait for each other on their `UserStats` row, so keeping
    them on one shard adds no wait; different users spread over the shards.
    """
    shards: int = settings.ANALYTICS_TOTAL_SHARDS
    return (user_id or 0) % shards


def _bump(
    moment: datetime,
    user_id: int | None,
    engine: str,
    model: str,
    error_code: str = "",
    **add: Any,
) -> None:
    """Add ``add`` to the day's totals of ``engine``/``model``/``error_code`` on the
    user's shard with ``F()``; the row is created on its first event (concurrent
    creators: one insert wins, the others update)."""
    key = {
        "day": local_day(moment),
        "engine": engine,
        "model": model,
        "error_code": error_code,
        "shard": total_shard(user_id),
    }
    increments = {name: F(name) + value for name, value in add.items()}
    if DailyTotal.objects.filter(**key).update(**increments):
        return
    try:
        with transaction.atomic():
            DailyTotal.objects.create(**key, **add)
    except IntegrityError:
        DailyTotal.objects.filter(**key).update(**increments)


def record_signup(user: Any, *, at: datetime | None = None) -> UserStats:
    """Record ``user``'s signup (at ``at``, default their ``date_joined``); idempotent.

    Args:
        user: The new user.
        at: When they signed up.

    Returns:
        The user's stats row (the existing one when the signup was already recorded).
    """
    joined = at or getattr(user, "date_joined", None) or timezone.now()
    existing = UserStats.objects.filter(pk=user.pk).first()
    if existing is not None:
        return existing
    day = local_day(joined)
    with transaction.atomic():
        if _create_event(
            f"signup:{user.pk}", EventKind.SIGNUP, user_id=user.pk, occurred_at=joined
        ):
            stats, _ = UserStats.objects.get_or_create(
                pk=user.pk, defaults={"signed_up_at": joined, "signup_day": day}
            )
            _mark_active(user.pk, joined, stats.signup_day)
            return stats
    return UserStats.objects.get(pk=user.pk)


def _fail_open(receiver: Callable[..., None]) -> Callable[..., None]:
    """Signal receivers never break the sender: the platform sends its lifecycle
    signals with ``send()``, so an error here would skip the receivers after ours (the
    webhooks). It is logged; ``analytics_backfill`` records what was missed."""

    @functools.wraps(receiver)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            receiver(*args, **kwargs)
        except Exception:
            logger.exception("Analytics could not record %s", receiver.__name__)

    return guarded


@_fail_open
def on_user_signed_up(sender: Any, user: Any, **kwargs: Any) -> None:
    """``user_signed_up``: record the signup."""
    record_signup(user)


def _normalize_code(code: str) -> str:
    return code.strip().upper()


def apply_referral_code(user: Any, *, referral_code: str | None = None, **kwargs: Any) -> None:
    """Registration hook: record the signup, and count the referral code it carried.

    Runs inside the registration's transaction, so an unknown code refuses the whole
    registration (400 ``invalid_referral_code``) and nothing is stored.

    Args:
        user: The user being registered (saved, not committed).
        referral_code: The code from the registration payload, if any.

    Raises:
        InvalidReferralCode: No such code.
    """
    code = None
    if referral_code:
        code = ReferralCode.objects.filter(code=_normalize_code(referral_code)).first()
        if code is None:
            raise InvalidReferralCode(details=[{"field": "referral_code"}])
    record_signup(user)
    if code is None or code.owner_id == user.pk:
        return
    with transaction.atomic():
        # The key makes a referral count once per new user, whatever retries.
        if not _create_event(
            f"referral:{user.pk}",
            EventKind.REFERRAL,
            user_id=code.owner_id,
            object_id=str(user.pk),
            occurred_at=UserStats.objects.get(pk=user.pk).signed_up_at,
        ):
            return
        ReferralCode.objects.filter(pk=code.pk).update(uses=F("uses") + 1)
        UserStats.objects.filter(pk=user.pk).update(
            referred_by=code.owner_id, referral_code=code.code
        )
        record_signup(code.owner)
        UserStats.objects.filter(pk=code.owner_id).update(referrals=F("referrals") + 1)


def _earliest(field: str, moment: datetime) -> Case:
    """``field`` set to ``moment`` unless it holds an earlier time (an UPDATE value)."""
    earlier = Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": moment})
    return Case(When(earlier, then=Value(moment, output_field=DateTimeField())), default=F(field))


def _stats_for(user: Any) -> UserStats:
    """The user's stats; someone first seen through a job (an account made by staff,
    or from before the app was installed) signs up at their ``date_joined``."""
    stats = UserStats.objects.filter(pk=user.pk).first()
    return stats if stats is not None else record_signup(user)


def _engine_model(engine_alias: str, model: str) -> str:
    """The job's model, or its engine's configured one when the job never named it
    (a job that failed before the engine answered)."""
    if model:
        return model
    from transcription_platform.engines import get_engine

    try:
        return str(getattr(get_engine(engine_alias), "model", "") or "")
    except TranscriptionPlatformError:  # an engine removed from ENGINES since
        return ""


def _engine_and_model(transcription: Any) -> tuple[str, str]:
    return (
        transcription.engine[:64],
        _engine_model(transcription.engine, transcription.model)[:128],
    )


def price_per_minute(user: Any) -> Decimal:
    """What the site charges ``user`` per audio minute: the lowest price among their
    plan groups (``ANALYTICS_PLAN_PRICES``), else ``ANALYTICS_PRICE_PER_MINUTE``."""
    plans = settings.ANALYTICS_PLAN_PRICES
    if plans:
        names = user.groups.filter(name__in=list(plans)).values_list("name", flat=True)
        prices = [Decimal(str(plans[name])) for name in names]
        if prices:
            return min(prices)
    return Decimal(str(settings.ANALYTICS_PRICE_PER_MINUTE))


def record_transcription_created(transcription: Any) -> bool:
    """Record a created job (and an active day of its owner); False if already done."""
    owner = transcription.owner
    stats = _stats_for(owner)
    engine, model = _engine_and_model(transcription)
    with transaction.atomic():
        created = _create_event(
            f"created:{transcription.pk}",
            EventKind.TRANSCRIPTION_CREATED,
            user_id=owner.pk,
            occurred_at=transcription.created_at,
            object_id=str(transcription.pk),
            engine=engine,
            model=model,
        )
        if created:
            UserStats.objects.filter(pk=owner.pk).update(transcriptions=F("transcriptions") + 1)
            _mark_active(owner.pk, transcription.created_at, stats.signup_day)
            _bump(transcription.created_at, owner.pk, engine, model, created=1)
    return created


def record_transcription_completed(transcription: Any) -> bool:
    """Record a completed job: audio, processing time, revenue; activate its owner."""
    owner = transcription.owner
    finished = transcription.completed_at or timezone.now()
    usage = transcription.usage or {}
    seconds = Decimal(str(usage.get("audio_seconds") or transcription.duration or 0))
    seconds = seconds.quantize(SECONDS)
    processing = None
    if transcription.started_at is not None:
        processing = max((finished - transcription.started_at).total_seconds(), 0.0)
    revenue = _money(seconds / 60 * price_per_minute(owner))
    engine, model = _engine_and_model(transcription)
    with transaction.atomic():
        created = _create_event(
            f"completed:{transcription.pk}",
            EventKind.TRANSCRIPTION_COMPLETED,
            user_id=owner.pk,
            occurred_at=finished,
            object_id=str(transcription.pk),
            engine=engine,
            model=model,
            audio_seconds=seconds,
            processing_seconds=processing,
            revenue=revenue,
        )
        if created:
            # The first completion activates (and the first with revenue makes a paying
            # user); a backfill may meet an earlier one later. One statement for all.
            changes: dict[str, Any] = {
                "completed": F("completed") + 1,
                "activated_at": _earliest("activated_at", finished),
            }
            if revenue > 0:
                changes["first_paid_at"] = _earliest("first_paid_at", finished)
            stats = UserStats.objects.filter(pk=owner.pk)
            if not stats.update(**changes):
                _stats_for(owner)  # first seen through this job: the signup, then this
                stats.update(**changes)
            timed = {}
            if processing is not None:
                timed = {"processing_seconds": processing, "timed_audio_seconds": seconds}
            _bump(
                finished,
                owner.pk,
                engine,
                model,
                completed=1,
                audio_seconds=seconds,
                revenue=revenue,
                **timed,
            )
    return created


def record_transcription_failed(transcription: Any, error_code: str = "") -> bool:
    """Record a job that failed for good, with its error code."""
    owner = transcription.owner
    _stats_for(owner)
    engine, model = _engine_and_model(transcription)
    finished = transcription.completed_at or timezone.now()
    code = (error_code or transcription.error_code or "unknown")[:64]
    with transaction.atomic():
        created = _create_event(
            f"failed:{transcription.pk}",
            EventKind.TRANSCRIPTION_FAILED,
            user_id=owner.pk,
            occurred_at=finished,
            object_id=str(transcription.pk),
            engine=engine,
            model=model,
            error_code=code,
        )
        if created:
            UserStats.objects.filter(pk=owner.pk).update(failed=F("failed") + 1)
            _bump(finished, owner.pk, engine, model, code, failed=1)
    return created


def record_usage(record: Any) -> bool:
    """Record a billing ledger row as cost (0 when the user's own key paid: BYOK)."""
    cost = ZERO if record.byok else record.cost
    engine, model = record.alias[:64], record.model[:128]
    with transaction.atomic():
        created = _create_event(
            f"usage:{record.idempotency_key}",
            EventKind.USAGE,
            user_id=record.owner_id,
            occurred_at=record.created_at,
            object_id=str(record.object_id)[:64],
            step=record.step,
            engine=engine,
            model=model,
            audio_seconds=record.audio_seconds,
            cost=cost,
        )
        if created:
            step_cost = cost if record.step == TRANSCRIPTION_STEP else ZERO
            _bump(
                record.created_at,
                record.owner_id,
                engine,
                model,
                cost=cost,
                transcription_cost=step_cost,
            )
    return created


@_fail_open
def on_transcription_created(sender: Any, transcription: Any, **kwargs: Any) -> None:
    record_transcription_created(transcription)


@_fail_open
def on_transcription_completed(sender: Any, transcription: Any, **kwargs: Any) -> None:
    record_transcription_completed(transcription)


@_fail_open
def on_transcription_failed(
    sender: Any, transcription: Any, error_code: str = "", **kwargs: Any
) -> None:
    record_transcription_failed(transcription, error_code)


@_fail_open
def on_usage_recorded(sender: Any, record: Any, **kwargs: Any) -> None:
    record_usage(record)


def backfill(*, batch_size: int = 1000) -> dict[str, int]:
    """Record events from existing data: users, transcriptions and, with the billing
    app, its ledger. Idempotent: what was already recorded is skipped.

    Returns:
        How many events of each source were added.
    """
    from transcription_platform.transcriptions.services import (
        TranscriptionStatus,
        all_transcriptions,
    )

    added = {"signups": 0, "transcriptions": 0, "completed": 0, "failed": 0, "usage": 0}
    recorded = set(UserStats.objects.values_list("pk", flat=True))
    for user in get_user_model()._default_manager.order_by("pk").iterator(batch_size):
        if user.pk not in recorded:
            record_signup(user)
            added["signups"] += 1
    jobs = all_transcriptions().select_related("owner").order_by("created_at", "pk")
    for job in jobs.iterator(batch_size):
        added["transcriptions"] += record_transcription_created(job)
        if job.status == TranscriptionStatus.COMPLETED:
            added["completed"] += record_transcription_completed(job)
        elif job.status == TranscriptionStatus.FAILED:
            added["failed"] += record_transcription_failed(job, job.error_code)
    if apps.is_installed("transcription_platform.billing"):
        from transcription_platform.billing.services import all_records

        for record in all_records().order_by("created_at", "pk").iterator(batch_size):
            added["usage"] += record_usage(record)
    return added


def rebuild_daily_totals() -> int:
    """Recompute every `DailyTotal` from the events, in the current ``TIME_ZONE``.

    The totals are kept up to date as events arrive; this is for a site that changed
    ``TIME_ZONE`` (totals are filed under the local day of their event) or loaded
    events in bulk. One aggregate query; returns the number of rows written.
    """
    D, F_, U = (
        EventKind.TRANSCRIPTION_COMPLETED,
        EventKind.TRANSCRIPTION_FAILED,
        EventKind.USAGE,
    )
    grouped = (
        Event.objects.filter(kind__in=[EventKind.TRANSCRIPTION_CREATED, D, F_, U])
        .annotate(local_day=TruncDate("occurred_at", tzinfo=timezone.get_default_timezone()))
        .annotate(shard=Mod(Coalesce("user_id", 0), settings.ANALYTICS_TOTAL_SHARDS))
        .values("local_day", "engine", "model", "error_code", "shard")
        .order_by()
        .annotate(
            n_created=Count("pk", filter=Q(kind=EventKind.TRANSCRIPTION_CREATED)),
            n_completed=Count("pk", filter=Q(kind=D)),
            n_failed=Count("pk", filter=Q(kind=F_)),
            audio=Sum("audio_seconds", filter=Q(kind=D)),
            processing=Sum("processing_seconds", filter=Q(kind=D)),
            timed_audio=Sum("audio_seconds", filter=Q(kind=D, processing_seconds__isnull=False)),
            revenue_sum=Sum("revenue", filter=Q(kind=D)),
            cost_sum=Sum("cost", filter=Q(kind=U)),
            transcription_cost_sum=Sum("cost", filter=Q(kind=U, step=TRANSCRIPTION_STEP)),
        )
    )
    totals = [
        DailyTotal(
            day=row["local_day"],
            engine=row["engine"],
            model=row["model"],
            error_code=row["error_code"],
            shard=row["shard"],
            created=row["n_created"],
            completed=row["n_completed"],
            failed=row["n_failed"],
            audio_seconds=row["audio"] or ZERO,
            processing_seconds=row["processing"] or 0.0,
            timed_audio_seconds=row["timed_audio"] or ZERO,
            revenue=row["revenue_sum"] or ZERO,
            cost=row["cost_sum"] or ZERO,
            transcription_cost=row["transcription_cost_sum"] or ZERO,
        )
        for row in grouped
    ]
    with transaction.atomic():
        DailyTotal.objects.all().delete()
        DailyTotal.objects.bulk_create(totals, batch_size=1000)
    return len(totals)


# =========================================================================== referrals


def referral_codes_for(user: Any) -> QuerySet[ReferralCode]:
    """The referral codes ``user`` created, newest first."""
    return ReferralCode.objects.filter(owner_id=user.pk)


def create_referral_code(user: Any) -> ReferralCode:
    """A new referral code for ``user`` (409 past ``ANALYTICS_MAX_REFERRAL_CODES``)."""
    with transaction.atomic():
        # Lock the user's row: two concurrent creates cannot both pass the limit.
        get_user_model()._default_manager.select_for_update().filter(pk=user.pk).first()
        if referral_codes_for(user).count() >= settings.ANALYTICS_MAX_REFERRAL_CODES:
            raise TooManyReferralCodes(details={"limit": settings.ANALYTICS_MAX_REFERRAL_CODES})
        for _attempt in range(5):
            code = "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(10))
            try:
                with transaction.atomic():
                    return ReferralCode.objects.create(owner_id=user.pk, code=code)
            except IntegrityError:
                continue  # 32**10 codes: a collision is rare, five in a row impossible
    raise RuntimeError("Could not draw a free referral code.")


def may_read_analytics(user: Any) -> bool:
    """Whether ``user`` may read the metrics: the analyst role (admins and superusers
    hold it) or staff (``is_staff``), active in both cases."""
    if user is None or not getattr(user, "is_active", False):
        return False
    return bool(getattr(user, "is_staff", False)) or has_role(user, ANALYST)


# =========================================================================== periods


@dataclass(frozen=True)
class Period:
    """Local days ``start``..``end`` (both included) in the site's ``TIME_ZONE``."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        """The first instant of ``start``."""
        return _day_start(self.start)

    @property
    def until(self) -> datetime:
        """The first instant after ``end`` (exclusive bound)."""
        return _day_start(self.end + timedelta(days=1))

    def as_json(self) -> dict[str, str]:
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "time_zone": str(timezone.get_default_timezone()),
        }


def _day_start(day: date) -> datetime:
    # zoneinfo picks the right offset for that midnight (DST changes included).
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def period(start: date | None = None, end: date | None = None) -> Period:
    """The period ``start``..``end``; by default the 30 days ending today (local).

    Raises:
        InvalidPeriod: ``start`` after ``end``, or longer than ANALYTICS_MAX_PERIOD_DAYS.
    """
    end = end or timezone.localdate(timezone=timezone.get_default_timezone())
    start = start or end - timedelta(days=29)
    for name, day in (("from", start), ("to", end)):
        # Far ends of the calendar have no midnight in every zone (and no day after).
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise InvalidPeriod(
                f"'{name}' must be between {EARLIEST_DAY} and {LATEST_DAY}.",
                details={name: str(day)},
            )
    if start > end:
        raise InvalidPeriod("'from' is after 'to'.", details={"from": str(start), "to": str(end)})
    days = (end - start).days + 1
    if days > settings.ANALYTICS_MAX_PERIOD_DAYS:
        raise InvalidPeriod(
            f"The period is {days} days; at most {settings.ANALYTICS_MAX_PERIOD_DAYS}.",
            details={"days": days, "max_days": settings.ANALYTICS_MAX_PERIOD_DAYS},
        )
    return Period(start, end)


def _cached(name: str, parts: Iterable[Any], compute: Callable[[], dict[str, Any]]) -> Any:
    """``compute()``, kept ``ANALYTICS_CACHE_SECONDS``; a cache outage only costs speed."""
    seconds = settings.ANALYTICS_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    key = ":".join(["tp:analytics", name, str(timezone.get_default_timezone()), *map(str, parts)])
    try:
        hit = cache.get(key)
    except Exception:
        logger.exception("Analytics cache unavailable; computing")
        hit = None
    if hit is not None:
        return hit
    value = compute()
    try:
        cache.set(key, value, seconds)
    except Exception:
        logger.exception("Analytics cache unavailable; answer not cached")
    return value


def _rate(part: int | float | Decimal, whole: int | float | Decimal) -> float | None:
    return round(float(part) / float(whole), 4) if whole else None


def _money_str(value: Decimal | None) -> str:
    return str(_money(value))


def _seconds(value: Decimal | float | None) -> float:
    return round(float(value or 0), 3)


def _events(p: Period, *kinds: str) -> QuerySet[Event]:
    return Event.objects.filter(kind__in=kinds, occurred_at__gte=p.since, occurred_at__lt=p.until)


def _days(p: Period) -> QuerySet[DailyTotal]:
    return DailyTotal.objects.filter(day__gte=p.start, day__lte=p.end)


# =========================================================================== metrics


def overview(start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """``GET /analytics/overview/``: the headline figures of a period.

    Args:
        start: First local day (default: 29 days before ``end``).
        end: Last local day, included (default: today).

    Returns:
        ``period``, ``currency``, ``signups``, ``activated_users``, ``activation_rate``,
        ``dau``, ``wau``, ``mau``, ``transcriptions``, ``audio_seconds``, ``failures``
        (``total``, ``by_error_code``), ``cost``, ``revenue``, ``gross_margin``.
    """
    p = period(start, end)
    return _cached("overview", (p.start, p.end), lambda: _overview(p))  # type: ignore[no-any-return]


def _overview(p: Period) -> dict[str, Any]:
    cohort = UserStats.objects.filter(signed_up_at__gte=p.since, signed_up_at__lt=p.until)
    users = cohort.aggregate(
        signups=Count("pk"), activated=Count("pk", filter=Q(activated_at__lt=p.until))
    )
    active = ActiveDay.objects.filter(day__gte=p.end - timedelta(days=29), day__lte=p.end)
    actives = active.aggregate(
        dau=Count("user_id", distinct=True, filter=Q(day=p.end)),
        wau=Count("user_id", distinct=True, filter=Q(day__gte=p.end - timedelta(days=6))),
        mau=Count("user_id", distinct=True),
    )
    days = _days(p)
    totals = days.aggregate(
        transcriptions=Sum("created"),
        audio=Sum("audio_seconds"),
        revenue=Sum("revenue"),
        cost=Sum("cost"),
        failed=Sum("failed"),
    )
    by_code = (
        days.filter(failed__gt=0)
        .values("error_code")
        .order_by("error_code")
        .annotate(n=Sum("failed"))
    )
    cost, revenue = _money(totals["cost"]), _money(totals["revenue"])
    return {
        "period": p.as_json(),
        "currency": settings.BILLING_CURRENCY,
        "signups": users["signups"],
        "activated_users": users["activated"],
        "activation_rate": _rate(users["activated"], users["signups"]),
        "dau": actives["dau"],
        "wau": actives["wau"],
        "mau": actives["mau"],
        "transcriptions": totals["transcriptions"] or 0,
        "audio_seconds": _seconds(totals["audio"]),
        "failures": {
            "total": totals["failed"] or 0,
            "by_error_code": {row["error_code"]: row["n"] for row in by_code},
        },
        "cost": str(cost),
        "revenue": str(revenue),
        "gross_margin": _rate(revenue - cost, revenue),
    }


def funnel(start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """``GET /analytics/funnel/``: the AARRR funnel of the users who signed up in the
    period, each step counted by the end of the period.

    Returns:
        ``period`` and ``steps``: ``acquisition``, ``activation``, ``retention``,
        ``referral``, ``revenue``, each ``{"step", "users", "rate"}`` (rate: share of
        acquisition).
    """
    p = period(start, end)
    return _cached("funnel", (p.start, p.end), lambda: _funnel(p))  # type: ignore[no-any-return]


def _funnel(p: Period) -> dict[str, Any]:
    cohort = UserStats.objects.filter(signed_up_at__gte=p.since, signed_up_at__lt=p.until)
    cohort_ids = cohort.values("pk")
    users = cohort.aggregate(
        acquisition=Count("pk"),
        activation=Count("pk", filter=Q(activated_at__lt=p.until)),
        paying=Count("pk", filter=Q(first_paid_at__lt=p.until)),
    )
    retained = ActiveDay.objects.filter(
        signup_day__gte=p.start, signup_day__lte=p.end, day__lte=p.end, week__gt=F("signup_week")
    ).aggregate(n=Count("user_id", distinct=True))["n"]
    referrers = UserStats.objects.filter(
        referred_by__in=cohort_ids, signed_up_at__lt=p.until
    ).aggregate(n=Count("referred_by", distinct=True))["n"]
    acquisition = users["acquisition"]
    counts = {
        "acquisition": acquisition,
        "activation": users["activation"],
        "retention": retained,
        "referral": referrers,
        "revenue": users["paying"],
    }
    return {
        "period": p.as_json(),
        "steps": [
            {"step": step, "users": n, "rate": _rate(n, acquisition)} for step, n in counts.items()
        ],
    }


def retention(
    start: date | None = None, end: date | None = None, cohort: Literal["week"] = "week"
) -> dict[str, Any]:
    """``GET /analytics/retention/``: users grouped by signup week (Monday to Sunday,
    local), and the share of each cohort active in each week since, up to ``end``.

    Returns:
        ``period``, ``cohort`` and ``cohorts``: ``{"cohort": first day of the week,
        "users", "active": [count per week 0, 1, …], "retention": [share per week]}``.
    """
    if cohort != "week":
        raise InvalidPeriod(f"Unknown cohort {cohort!r}; cohorts are by 'week'.")
    p = period(start, end)
    return _cached("retention", (p.start, p.end, cohort), lambda: _retention(p))  # type: ignore[no-any-return]


def _as_date(value: date | datetime) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value


def _retention(p: Period) -> dict[str, Any]:
    sizes = (
        UserStats.objects.filter(signup_day__gte=p.start, signup_day__lte=p.end)
        .annotate(cohort=Trunc("signup_day", "week"))
        .values("cohort")
        .order_by("cohort")
        .annotate(users=Count("pk"))
    )
    active_rows = (
        ActiveDay.objects.filter(signup_day__gte=p.start, signup_day__lte=p.end, day__lte=p.end)
        .values("signup_week", "week")
        .order_by()
        .annotate(users=Count("user_id", distinct=True))
    )
    active = {(row["signup_week"], row["week"]): row["users"] for row in active_rows}
    last_week = week_start(p.end)
    cohorts = []
    for row in sizes:
        first = _as_date(row["cohort"])
        weeks = (last_week - first).days // 7 + 1
        counts = [active.get((first, first + timedelta(weeks=k)), 0) for k in range(weeks)]
        cohorts.append(
            {
                "cohort": first.isoformat(),
                "users": row["users"],
                "active": counts,
                "retention": [_rate(n, row["users"]) for n in counts],
            }
        )
    return {"period": p.as_json(), "cohort": "week", "cohorts": cohorts}


def _bucket_starts(p: Period, interval: str) -> list[date]:
    if interval == "day":
        return [p.start + timedelta(days=n) for n in range((p.end - p.start).days + 1)]
    if interval == "week":
        first, step = week_start(p.start), timedelta(weeks=1)
        return [first + step * n for n in range((week_start(p.end) - first).days // 7 + 1)]
    starts, month = [], p.start.replace(day=1)
    while month <= p.end:
        starts.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return starts


def _series_rows(metric: str, interval: str, p: Period) -> tuple[QuerySet[Any], str]:
    """(rows of ``bucket`` and ``value``, how to format a value)."""
    tz = timezone.get_default_timezone()

    def by_time(queryset: QuerySet[Any], field: str) -> QuerySet[Any]:
        rows: QuerySet[Any] = (
            queryset.annotate(bucket=Trunc(field, interval, tzinfo=tz))
            .values("bucket")
            .order_by("bucket")
        )
        return rows

    users = UserStats.objects.all()
    if metric == "signups":
        in_period = users.filter(signed_up_at__gte=p.since, signed_up_at__lt=p.until)
        return by_time(in_period, "signed_up_at").annotate(value=Count("pk")), "int"
    if metric == "activations":
        in_period = users.filter(activated_at__gte=p.since, activated_at__lt=p.until)
        return by_time(in_period, "activated_at").annotate(value=Count("pk")), "int"
    if metric == "active_users":
        days = ActiveDay.objects.filter(day__gte=p.start, day__lte=p.end)
        # One row per user and day: a day's rows are its active users.
        users_per_bucket = Count("pk") if interval == "day" else Count("user_id", distinct=True)
        active: QuerySet[Any] = (
            days.annotate(bucket=F(interval))
            .values("bucket")
            .order_by("bucket")
            .annotate(value=users_per_bucket)
        )
        return active, "int"
    column, kind = DAILY_METRICS[metric]
    rows = (
        _days(p)
        .annotate(bucket=Trunc("day", interval))
        .values("bucket")
        .order_by("bucket")
        .annotate(value=Sum(column))
    )
    return rows, kind


#: Metric → (DailyTotal column, value format).
DAILY_METRICS = {
    "transcriptions": ("created", "int"),
    "completed": ("completed", "int"),
    "failures": ("failed", "int"),
    "audio_seconds": ("audio_seconds", "seconds"),
    "cost": ("cost", "money"),
    "revenue": ("revenue", "money"),
}


def _bucket_day(value: date | datetime) -> date:
    if isinstance(value, datetime):
        return timezone.localtime(value, timezone.get_default_timezone()).date()
    return value


def timeseries(
    metric: str, interval: str = "day", start: date | None = None, end: date | None = None
) -> dict[str, Any]:
    """``GET /analytics/timeseries/``: one metric per local day, week (from Monday) or
    calendar month of the period; buckets without data are 0.

    Args:
        metric: One of `METRICS`.
        interval: ``day``, ``week`` or ``month``.
        start: First local day.
        end: Last local day, included.

    Returns:
        ``period``, ``metric``, ``interval`` and ``points``: ``{"start": bucket's
        first day, "value"}`` (counts are integers, seconds numbers, money strings).

    Raises:
        ValueError: Unknown metric or interval (the API validates both first).
    """
    if metric not in METRICS:
        raise ValueError(f"Unknown metric {metric!r}; metrics are {', '.join(METRICS)}.")
    if interval not in INTERVALS:
        raise ValueError(f"Unknown interval {interval!r}; intervals are {', '.join(INTERVALS)}.")
    p = period(start, end)
    return _cached(  # type: ignore[no-any-return]
        "timeseries", (metric, interval, p.start, p.end), lambda: _timeseries(metric, interval, p)
    )


def _timeseries(metric: str, interval: str, p: Period) -> dict[str, Any]:
    rows, kind = _series_rows(metric, interval, p)
    values = {_bucket_day(row["bucket"]): row["value"] for row in rows}
    formats: dict[str, Callable[[Any], Any]] = {
        "int": lambda v: int(v or 0),
        "seconds": _seconds,
        "money": _money_str,
    }
    fmt = formats[kind]
    return {
        "period": p.as_json(),
        "metric": metric,
        "interval": interval,
        "points": [
            {"start": day.isoformat(), "value": fmt(values.get(day))}
            for day in _bucket_starts(p, interval)
        ],
    }


class PercentileDisc(Aggregate):
    """PostgreSQL's ``percentile_disc(f) WITHIN GROUP (ORDER BY x)``: the first value
    whose position in ascending order reaches ``f`` of the group — nearest rank."""

    function = "percentile_disc"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def _processing_percentiles(p: Period) -> dict[tuple[str, str], tuple[float, float]]:
    """(median, p95) processing seconds per (engine, model), nearest rank, in SQL.

    Nearest rank: the p-th percentile of n values is the value at position ⌈p·n/100⌉
    in ascending order. PostgreSQL has it built in (``percentile_disc``); elsewhere a
    window numbers the rows and the smallest rank r with r·100 ≥ p·n is picked, in
    integers. Both give the same value (tested on both databases).
    """
    completed = _events(p, EventKind.TRANSCRIPTION_COMPLETED).filter(
        processing_seconds__isnull=False
    )
    if connection.vendor == "postgresql":
        rows = (
            completed.values("engine", "model")
            .order_by()
            .annotate(
                median=PercentileDisc("processing_seconds", 0.5),
                p95=PercentileDisc("processing_seconds", 0.95),
            )
        )
        return {(row["engine"], row["model"]): (row["median"], row["p95"]) for row in rows}
    ranked = (
        completed.annotate(
            rn=Window(
                RowNumber(),
                partition_by=[F("engine"), F("model")],
                order_by=F("processing_seconds").asc(),
            ),
            n=Window(Count("pk"), partition_by=[F("engine"), F("model")]),
        )
        .values("engine", "model", "processing_seconds", "rn", "n")
        .order_by()
    )
    sql, params = ranked.query.sql_with_params()
    # The inner SQL is Django's own, with its parameters kept apart.
    query = (
        "SELECT ranked.engine, ranked.model, "  # noqa: S608
        "MIN(CASE WHEN ranked.rn * 100 >= 50 * ranked.n THEN ranked.processing_seconds END), "
        "MIN(CASE WHEN ranked.rn * 100 >= 95 * ranked.n THEN ranked.processing_seconds END) "
        f"FROM ({sql}) ranked GROUP BY ranked.engine, ranked.model"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return {(row[0], row[1]): (row[2], row[3]) for row in cursor.fetchall()}


def engines(start: date | None = None, end: date | None = None) -> dict[str, Any]:
    """``GET /analytics/engines/``: per engine alias and model, the jobs that finished
    (completed or failed) in the period.

    Returns:
        ``period``, ``currency`` and ``engines``: ``{"engine", "model", "jobs",
        "completed", "failed", "minutes", "median_processing_seconds",
        "p95_processing_seconds", "real_time_factor", "failure_rate", "cost",
        "cost_per_minute"}``, ordered by engine then model.
    """
    p = period(start, end)
    return _cached("engines", (p.start, p.end), lambda: _engines(p))  # type: ignore[no-any-return]


def _engines(p: Period) -> dict[str, Any]:
    rows = (
        _days(p)
        .values("engine", "model")
        .order_by("engine", "model")
        .annotate(
            n_completed=Sum("completed"),
            n_failed=Sum("failed"),
            audio=Sum("audio_seconds"),
            processing=Sum("processing_seconds"),
            timed_audio=Sum("timed_audio_seconds"),
            cost=Sum("transcription_cost"),
        )
        # Models that only appear in the ledger (analysis) ran no job.
        .filter(Q(n_completed__gt=0) | Q(n_failed__gt=0))
    )
    percentiles = _processing_percentiles(p)
    out = []
    for row in rows:
        key = (row["engine"], row["model"])
        jobs = row["n_completed"] + row["n_failed"]
        audio = row["audio"] or ZERO
        cost = _money(row["cost"])
        median, p95 = percentiles.get(key, (None, None))
        out.append(
            {
                "engine": row["engine"],
                "model": row["model"],
                "jobs": jobs,
                "completed": row["n_completed"],
                "failed": row["n_failed"],
                "minutes": round(float(audio) / 60, 3),
                "median_processing_seconds": None if median is None else round(median, 3),
                "p95_processing_seconds": None if p95 is None else round(p95, 3),
                "real_time_factor": _rate(row["processing"] or 0, row["timed_audio"] or 0),
                "failure_rate": _rate(row["n_failed"], jobs),
                "cost": str(cost),
                "cost_per_minute": _money_str(cost * 60 / audio) if audio else None,
            }
        )
    return {"period": p.as_json(), "currency": settings.BILLING_CURRENCY, "engines": out}
