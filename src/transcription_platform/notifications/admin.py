from django.contrib import admin
from django.http import HttpRequest

from transcription_platform.generics import ModelAdmin, TabularInline
from transcription_platform.notifications.models import (
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ModelAdmin[WebhookEndpoint]):
    list_display = ["url", "owner", "enabled", "disabled_reason", "consecutive_failures"]
    list_filter = ["enabled", "disabled_reason"]
    search_fields = ["url", "owner__username"]
    # Secrets are shown to their owner once, through the API; never in the admin.
    exclude = ["secret", "previous_secret"]
    readonly_fields = ["transcription_id", "previous_secret_expires_at", "consecutive_failures"]


class WebhookAttemptInline(TabularInline[WebhookAttempt, WebhookMessage]):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in WebhookAttempt._meta.fields]


@admin.register(WebhookMessage)
class WebhookMessageAdmin(ModelAdmin[WebhookMessage]):
    list_display = ["id", "event_type", "endpoint", "status", "attempts", "created_at"]
    list_filter = ["status", "event_type"]
    readonly_fields = [f.name for f in WebhookMessage._meta.fields]
    inlines = [WebhookAttemptInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
