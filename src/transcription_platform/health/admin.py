from django.contrib import admin

from transcription_platform.health.models import WorkerHeartbeat


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ("cluster", "last_seen")
    readonly_fields = ("cluster", "last_seen")
