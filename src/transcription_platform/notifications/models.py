"""Webhook endpoints, the messages sent to them and every delivery attempt."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from transcription_platform.crypto import EncryptedTextField


class WebhookEndpoint(models.Model):
    """A URL a user subscribed to some event types; ``secret`` signs what it gets."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2048)
    description = models.CharField(max_length=255, blank=True)
    events = models.JSONField(default=list)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=32, blank=True)
    # Set on the hidden endpoint made for a per-request ``webhook_url`` on create: it
    # gets only that transcription's events and is not listed with the user's endpoints.
    transcription_id = models.UUIDField(null=True, blank=True, editable=False)
    secret = EncryptedTextField()
    previous_secret = EncryptedTextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "transcription_id", "enabled"])]

    def __str__(self) -> str:
        return self.url


class RequestWebhookSecret(models.Model):
    """The per-user secret that signs deliveries to per-request ``webhook_url``s."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    secret = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"request webhook secret of {self.owner_id}"


class MessageStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class WebhookMessage(models.Model):
    """One event for one endpoint; its id is the ``webhook-id`` of every attempt.

    ``event_key`` names the event (type, object, occurrence): the unique constraint
    makes a re-sent signal or a redelivered task create no second message.
    """

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    event_type = models.CharField(max_length=64)
    event_key = models.CharField(max_length=255)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_key"], name="tp_notifications_one_message_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.event_type}"


class WebhookAttempt(models.Model):
    """One HTTP attempt at delivering a message."""

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=255, blank=True)
    succeeded = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["message", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "number"], name="tp_notifications_one_log_per_attempt"
            )
        ]

    def __str__(self) -> str:
        return f"{self.message_id} #{self.number}"


class EventSequence(models.Model):
    """The last real-time event id given to a user.

    Each new event takes the next id while it holds this row's lock, until its
    transaction commits: a user's events commit in id order, so a client that saw id N
    has seen (or can still read) everything before it.
    """

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    last_id = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"events of {self.owner_id}: {self.last_id}"


class StreamEvent(models.Model):
    """A real-time event of one user's jobs, kept (``EVENTS_LOG_SIZE`` per user) so a
    reconnecting client resumes from its ``Last-Event-ID``."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    event_id = models.PositiveBigIntegerField()
    transcription_id = models.UUIDField()
    event_type = models.CharField(max_length=16)
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["owner", "event_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "event_id"], name="tp_notifications_one_event_per_id"
            )
        ]
        indexes = [models.Index(fields=["owner", "transcription_id", "event_id"])]

    def __str__(self) -> str:
        return f"{self.owner_id} #{self.event_id} {self.event_type}"
