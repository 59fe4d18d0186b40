"""The usage ledger, the budgets and the reservations that enforce them.

``UsageRecord`` is append-only: one row per billable step, its ``idempotency_key``
unique in the database, so a retried or re-delivered task can never record twice.
``Budget`` rows hold per-user and per-group limits and are also the rows locked
(``select_for_update``) while a reservation is checked, which serialises concurrent
creates of one user or one group. ``Reservation`` holds what a job in flight may use.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone

from transcription_platform.billing.error_codes import BillingErrorCode
from transcription_platform.exceptions import Conflict


class Step(models.TextChoices):
    TRANSCRIPTION = "transcription", "Transcription"
    ANALYSIS = "analysis", "Analysis"


class LedgerAppendOnly(Conflict):
    code = BillingErrorCode.LEDGER_APPEND_ONLY.value
    default_message = "Usage records cannot be changed or deleted."


class UsageRecordQuerySet(models.QuerySet["UsageRecord"]):
    def update(self, **kwargs: Any) -> int:
        raise LedgerAppendOnly()

    def delete(self) -> Any:
        raise LedgerAppendOnly()


class UsageRecord(models.Model):
    """One billable step: what was used, the prices applied and what it cost."""

    owner = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        # The ledger outlives an account: finance still needs last month's figures.
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    owner_label = models.CharField(max_length=150, blank=True)
    object_type = models.CharField(max_length=100, help_text="e.g. transcription")
    object_id = models.CharField(max_length=64)
    step = models.CharField(max_length=32, choices=Step.choices)
    idempotency_key = models.CharField(max_length=200, unique=True)
    alias = models.CharField(max_length=64, blank=True, help_text="Engine or analyzer name.")
    model = models.CharField(max_length=128, blank=True, help_text="Provider model.")
    audio_seconds = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    input_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    output_tokens = models.PositiveBigIntegerField(null=True, blank=True)
    unit_prices = models.JSONField(default=dict, blank=True)
    cost = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    currency = models.CharField(max_length=3)
    byok = models.BooleanField(
        default=False, help_text="The user's own provider key paid: not charged to budgets."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    objects = UsageRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["owner", "created_at"], name="tp_bill_owner_created"),
            models.Index(fields=["object_type", "object_id"], name="tp_bill_object"),
        ]

    def __str__(self) -> str:
        return f"{self.step} {self.object_id}: {self.cost} {self.currency}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise LedgerAppendOnly()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise LedgerAppendOnly()


class Budget(models.Model):
    """Monthly and concurrency limits of one user or one group (exactly one of them).

    On a user's budget an empty limit falls back to ``BILLING_DEFAULT_LIMITS``; on a
    group's it means no limit from that group.
    """

    user = models.OneToOneField(
        django_settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
    )
    group = models.OneToOneField(
        Group, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    monthly_audio_seconds = models.PositiveBigIntegerField(null=True, blank=True)
    monthly_cost = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    concurrent_jobs = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="tp_bill_budget_one_scope",
            )
        ]

    def __str__(self) -> str:
        return f"Budget of {self.user or self.group}"

    @property
    def scope(self) -> str:
        return "user" if self.user_id else "group"

    @property
    def scope_id(self) -> int:
        """The id of the user or group the budget belongs to."""
        scope_id = self.user_id or self.group_id
        if scope_id is None:  # the check constraint makes this unreachable once saved
            raise ValueError(f"Budget {self.pk} belongs to neither a user nor a group.")
        return scope_id


class ReservationStatus(models.TextChoices):
    RESERVED = "reserved", "Reserved (job in flight)"
    SETTLED = "settled", "Settled (usage recorded)"
    RELEASED = "released", "Released (failed or cancelled)"


class Reservation(models.Model):
    """What a job in flight may use, held against its owner's and groups' budgets."""

    # The transcription's id, not a foreign key: billing never imports their models.
    transcription_id = models.CharField(max_length=64, unique=True)
    owner = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    audio_seconds = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    estimated_cost = models.DecimalField(max_digits=16, decimal_places=6, default=0)
    status = models.CharField(
        max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.RESERVED
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "status"], name="tp_bill_resv_owner_status")]

    def __str__(self) -> str:
        return f"Reservation {self.transcription_id} ({self.status})"
