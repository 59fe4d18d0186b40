from __future__ import annotations

from django.contrib import admin

from transcription_platform.admin import ReadOnlyAdminMixin
from transcription_platform.audit.models import AuditLog
from transcription_platform.generics import ModelAdmin


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, ModelAdmin[AuditLog]):
    """Read-only: the audit log is append-only, even for superusers."""

    list_display = ("created_at", "actor_label", "action", "object_type", "object_id", "ip")
    list_filter = ("action", "object_type", "created_at")
    search_fields = ("actor_label", "object_id", "ip")
    date_hierarchy = "created_at"
    readonly_fields = tuple(f.name for f in AuditLog._meta.fields)
    list_select_related = ("actor",)
