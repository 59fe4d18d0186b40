"""Admin: events and stats read-only (they are aggregates' inputs); codes listed."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from transcription_platform.analytics.models import Event, ReferralCode, UserStats
from transcription_platform.generics import ModelAdmin


class NoAddOrChange:
    """For a ModelAdmin: rows are written by the app only (deleting stays allowed)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(NoAddOrChange, ModelAdmin[Event]):
    list_display = ("occurred_at", "kind", "user_id", "engine", "model", "error_code")
    list_filter = ("kind", "engine")
    search_fields = ("key", "object_id")
    date_hierarchy = "occurred_at"


@admin.register(UserStats)
class UserStatsAdmin(NoAddOrChange, ModelAdmin[UserStats]):
    list_display = (
        "user_id",
        "signed_up_at",
        "activated_at",
        "transcriptions",
        "completed",
        "failed",
        "active_days",
        "referrals",
    )
    date_hierarchy = "signed_up_at"


@admin.register(ReferralCode)
class ReferralCodeAdmin(ModelAdmin[ReferralCode]):
    list_display = ("code", "owner", "uses", "created_at")
    search_fields = ("code",)
    readonly_fields = ("uses", "created_at")
    raw_id_fields = ("owner",)
