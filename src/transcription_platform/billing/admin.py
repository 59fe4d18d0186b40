"""Admin: the ledger read-only, budgets editable (changes audited), used-this-month."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from transcription_platform.admin import ReadOnlyAdminMixin
from transcription_platform.billing import services
from transcription_platform.billing.models import Budget, Reservation, UsageRecord
from transcription_platform.generics import ModelAdmin


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdminMixin, ModelAdmin[UsageRecord]):
    list_display = ("created_at", "owner_label", "step", "model", "audio_seconds", "cost", "byok")
    list_filter = ("step", "byok", "model")
    search_fields = ("owner_label", "object_id", "model")
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdminMixin, ModelAdmin[Reservation]):
    list_display = ("transcription_id", "owner", "status", "audio_seconds", "estimated_cost")
    list_filter = ("status",)


@admin.register(Budget)
class BudgetAdmin(ModelAdmin[Budget]):
    list_display = (
        "__str__",
        "monthly_audio_seconds",
        "monthly_cost",
        "concurrent_jobs",
        "used_this_month",
    )
    raw_id_fields = ("user",)

    @admin.display(description="Used this month (seconds / cost / running)")
    def used_this_month(self, budget: Budget) -> str:
        used = services.usage_of(budget.scope, budget.scope_id)
        return f"{used.audio_seconds} s / {used.cost} / {used.jobs}"

    def save_model(self, request: HttpRequest, obj: Budget, form: Any, change: bool) -> None:
        limits = {name: getattr(obj, name) for name in services.LIMIT_NAMES}
        services.set_budget(obj.scope, obj.scope_id, limits, request=request)
        obj.pk = services.get_budget(obj.scope, obj.scope_id).pk
