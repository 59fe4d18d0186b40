"""Error codes of the notifications app (documented in docs/api.md)."""

from enum import StrEnum


class NotificationsErrorCode(StrEnum):
    WEBHOOK_NOT_FOUND = "webhook_not_found"
    WEBHOOK_MESSAGE_NOT_FOUND = "webhook_message_not_found"
    INVALID_WEBHOOK_URL = "invalid_webhook_url"
    WEBHOOK_URL_FORBIDDEN = "webhook_url_forbidden"
    INVALID_EVENT_TYPE = "invalid_event_type"
    WEBHOOK_DISABLED = "webhook_disabled"
    TOO_MANY_WEBHOOKS = "too_many_webhooks"
    INVALID_STREAM_TOKEN = "invalid_stream_token"  # noqa: S105 (an error code)
