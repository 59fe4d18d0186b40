"""Product events and the per-user rows the metrics are aggregated from.

Every figure of the metrics endpoints is a database aggregate over these tables, which
are fed by the platform's signals (never by reading another app's tables):

- `Event`: one row per product event, unique by ``key`` so a re-delivered signal or a
  second backfill never counts twice.
- `DailyTotal`: per local day, engine, model and error code, the sums of the events
  (``F()`` counters), which the period figures add up.
- `ActiveDay`: one row per user and local day (``TIME_ZONE``) with activity; the
  user's signup day is copied onto it so a cohort table is a single GROUP BY.
- `UserStats`: one row per user: signup, activation and counters incremented with
  ``F()`` expressions.
- `ReferralCode`: invitation codes users create; ``uses`` is an ``F()`` counter.

Users are referred to by id, not by foreign key: the figures of a deleted account stay
in the history (they were real signups and real jobs).
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models
from django.utils import timezone


class EventKind(models.TextChoices):
    SIGNUP = "signup", "Signup"
    ACTIVATION = "activation", "Activation (first completed transcription)"
    TRANSCRIPTION_CREATED = "transcription_created", "Transcription created"
    TRANSCRIPTION_COMPLETED = "transcription_completed", "Transcription completed"
    TRANSCRIPTION_FAILED = "transcription_failed", "Transcription failed"
    REFERRAL = "referral", "Signup with a referral code"
    USAGE = "usage", "Billed usage (cost)"


class Event(models.Model):
    """One product event; figures are sums and counts of these."""

    key = models.CharField(max_length=200, unique=True, help_text="Idempotency key.")
    kind = models.CharField(max_length=32, choices=EventKind.choices)
    user_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    object_id = models.CharField(max_length=64, blank=True)
    step = models.CharField(max_length=32, blank=True, help_text="Usage: the billed step.")
    engine = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=128, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    audio_seconds = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    processing_seconds = models.FloatField(null=True, blank=True)
    cost = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    revenue = models.DecimalField(max_digits=16, decimal_places=6, default=0)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        # The analyst role's defining permission (transcription_platform.roles).
        permissions = [("view_analytics", "Can read product analytics (analyst role)")]
        indexes = [
            # The engines' processing-time percentiles: completed jobs of a period; the
            # trailing columns let PostgreSQL answer from the index alone (a key rather
            # than INCLUDE, which SQLite does not support).
            models.Index(
                fields=["kind", "occurred_at", "engine", "model", "processing_seconds"],
                name="tp_an_event_kind_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.occurred_at:%Y-%m-%d %H:%M} user={self.user_id}"


class DailyTotal(models.Model):
    """Running totals of one local day (``TIME_ZONE``), engine, model and error code.

    Incremented with ``F()`` in the transaction of each new event, so sums over a
    period read a few rows per day instead of every event. ``error_code`` is blank
    except on the rows counting failures. Each day's totals are spread over
    ``ANALYTICS_TOTAL_SHARDS`` rows by user (``shard`` is the user id modulo it): the
    row stays locked until the event's transaction commits, and one row for the
    whole site would make every user's job wait for every other's. Readers sum rows.
    """

    day = models.DateField()
    engine = models.CharField(max_length=64, blank=True)
    model = models.CharField(max_length=128, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    shard = models.PositiveSmallIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    audio_seconds = models.DecimalField(max_digits=18, decimal_places=3, default=0)
    #: Processing seconds of the completed jobs whose start is known, and their audio.
    processing_seconds = models.FloatField(default=0)
    timed_audio_seconds = models.DecimalField(max_digits=18, decimal_places=3, default=0)
    revenue = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    #: Every billed step (transcription and analysis), BYOK excluded.
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    #: The billed transcription steps only: the engines' cost per minute.
    transcription_cost = models.DecimalField(max_digits=18, decimal_places=6, default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "engine", "model", "error_code", "shard"],
                name="tp_an_daily_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.engine}/{self.model} {self.error_code}".rstrip()


class ActiveDay(models.Model):
    """A local day (``TIME_ZONE``) on which a user did something (signed up or
    created a transcription)."""

    user_id = models.BigIntegerField()
    day = models.DateField()
    # The day's week (its Monday) and month (its 1st), and the user's signup day and
    # week: stored so that a series or a cohort table groups plain columns (PostgreSQL
    # would otherwise cast every date to a timestamp to truncate it).
    week = models.DateField()
    month = models.DateField()
    signup_day = models.DateField(help_text="The user's signup day, copied for cohorts.")
    signup_week = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user_id", "day"], name="tp_an_active_unique")
        ]
        indexes = [
            # DAU/WAU/MAU and the active_users series: a range of days.
            models.Index(fields=["day", "user_id"], name="tp_an_active_day"),
            # Retention: the active days of the users who signed up in a period.
            models.Index(
                fields=["signup_day", "day", "signup_week", "week", "user_id"],
                name="tp_an_active_cohort",
            ),
        ]

    def __str__(self) -> str:
        return f"user={self.user_id} {self.day}"


class UserStats(models.Model):
    """Signup, activation, referral and running counters of one user."""

    user_id = models.BigIntegerField(primary_key=True)
    signed_up_at = models.DateTimeField()
    signup_day = models.DateField()
    activated_at = models.DateTimeField(null=True, blank=True)
    first_paid_at = models.DateTimeField(
        null=True, blank=True, help_text="First completed job with revenue."
    )
    referred_by = models.BigIntegerField(null=True, blank=True, help_text="Referrer's user id.")
    referral_code = models.CharField(max_length=32, blank=True)
    transcriptions = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    active_days = models.PositiveIntegerField(default=0)
    referrals = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "user stats"
        indexes = [
            models.Index(fields=["signed_up_at"], name="tp_an_user_signup"),
            models.Index(fields=["signup_day"], name="tp_an_user_signup_day"),
            models.Index(fields=["referred_by"], name="tp_an_user_referrer"),
        ]

    def __str__(self) -> str:
        return f"user={self.user_id}"


class ReferralCode(models.Model):
    """An invitation code a user hands out; a registration may carry it."""

    code = models.CharField(max_length=32, unique=True)
    owner = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    uses = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.code
