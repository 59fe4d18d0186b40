"""The worker heartbeats, for staff to see which clusters ran their heartbeat and when."""

from django.contrib import admin

from transcription_platform.admin import ReadOnlyAdminMixin
from transcription_platform.generics import ModelAdmin
from transcription_platform.health.models import WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdminMixin, ModelAdmin[WorkerHeartbeat]):
    """Read-only: only the heartbeat task writes these rows. A row added or edited by
    hand would make the health endpoint report a live worker that is not there."""

    list_display = ("cluster", "last_seen")
    readonly_fields = ("cluster", "last_seen")
    ordering = ("cluster",)
