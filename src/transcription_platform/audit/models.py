"""The append-only audit log: who did what to which object, from where."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from transcription_platform.audit.error_codes import AuditErrorCode
from transcription_platform.exceptions import Conflict


class AuditAction(models.TextChoices):
    CREATED = "created", "Created"
    VIEWED = "viewed", "Viewed"
    EXPORTED = "exported", "Exported"
    AUDIO_DOWNLOADED = "audio_downloaded", "Downloaded audio"
    RETRIED = "retried", "Retried"
    CANCELLED = "cancelled", "Cancelled"
    DELETED = "deleted", "Deleted"
    SETTINGS_CHANGED = "settings_changed", "Settings changed"
    API_KEY_CREATED = "api_key_created", "API key created"
    API_KEY_REVOKED = "api_key_revoked", "API key revoked"
    LOGIN_FAILED = "login_failed", "Login failed"
    USER_PROVISIONED = "user_provisioned", "User provisioned (single sign-on)"
    ROLES_CHANGED = "roles_changed", "Roles changed (single sign-on)"


class AppendOnlyError(Conflict):
    code = AuditErrorCode.AUDIT_LOG_APPEND_ONLY
    default_message = "Audit log entries cannot be changed or deleted."


class AuditLogQuerySet(models.QuerySet["AuditLog"]):
    def delete(self) -> Any:
        raise AppendOnlyError("Audit log entries are removed only by purge_audit_log.")

    def purge_before(self, cutoff: Any) -> int:
        """Delete entries older than ``cutoff`` (retention); the only way entries go."""
        deleted, _ = super(AuditLogQuerySet, self.filter(created_at__lt=cutoff)).delete()
        return deleted


class AuditLog(models.Model):
    """One audited event. Never holds transcript text or secrets (see services.log_action)."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    # SET_NULL keeps the trail when a user is deleted; actor_label keeps who it was.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    actor_label = models.CharField(max_length=254, blank=True, editable=False)
    action = models.CharField(max_length=32, choices=AuditAction.choices, editable=False)
    object_type = models.CharField(max_length=100, blank=True, editable=False)
    object_id = models.CharField(max_length=64, blank=True, editable=False)
    ip = models.GenericIPAddressField(null=True, blank=True, editable=False)
    user_agent = models.CharField(max_length=512, blank=True, editable=False)
    meta = models.JSONField(default=dict, blank=True, editable=False)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=["actor", "created_at"]),
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["action", "created_at"]),
        ]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        target = f" {self.object_type}:{self.object_id}" if self.object_type else ""
        actor = self.actor_label or "-"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {actor} {self.action}{target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError()
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError()
