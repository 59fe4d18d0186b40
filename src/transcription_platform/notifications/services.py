"""Outgoing webhooks, signed as the Standard Webhooks specification says.

The only module other apps may call. Flow: a platform signal (sent after commit) →
:func:`publish` creates one :class:`WebhookMessage` per subscribed endpoint — unique on
``(endpoint, event_key)``, so the same event never makes two messages — and enqueues
attempt 1 → :func:`deliver` POSTs it through the SSRF guard and logs the attempt → a
retryable failure schedules the next attempt as a one-off django-q2 schedule
(``WEBHOOK_RETRY_SCHEDULE``; no worker sleeps).

Every attempt carries the same ``webhook-id`` (the message id), a fresh
``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` — two signatures while a rotated secret overlaps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from transcription_platform.conf import settings
from transcription_platform.exceptions import Conflict, NotFound, ValidationError
from transcription_platform.notifications import ssrf, streams
from transcription_platform.notifications.error_codes import NotificationsErrorCode
from transcription_platform.notifications.models import (
    MessageStatus,
    RequestWebhookSecret,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from transcription_platform.notifications.signals import webhook_endpoint_disabled
from transcription_platform.queueing import enqueue_task
from transcription_platform.retry import retry_after_seconds
from transcription_platform.shortcuts import get_or_not_found

logger = logging.getLogger("transcription_platform.notifications")

EVENT_TYPES = (
    "transcription.completed",
    "transcription.failed",
    "transcription.cancelled",
    "analysis.completed",
    "analysis.failed",
)
#: Sent only by "send test event"; endpoints need not subscribe to it.
TEST_EVENT = "webhook.test"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
SECRET_OVERLAP = timedelta(hours=24)
RESPONSE_EXCERPT_CHARS = 1024
MAX_ENDPOINTS_PER_USER = 50
USER_AGENT = "transcription-platform-webhooks/1"


# --------------------------------------------------------------------------- signing


def generate_secret() -> str:
    """A new ``whsec_`` secret: 32 random bytes, base64 (the spec allows 24 to 64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(message_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """``v1,<signature>`` of one message attempt under one ``whsec_`` secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(
    endpoint: WebhookEndpoint, message_id: str, timestamp: int, body: bytes
) -> str:
    """The ``webhook-signature`` value: the current secret's signature, then the
    previous secret's while its 24 h overlap lasts (space separated, as the spec says)."""
    signatures = [sign(message_id, timestamp, body, endpoint.secret)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > timezone.now():
        signatures.append(sign(message_id, timestamp, body, endpoint.previous_secret))
    return " ".join(signatures)


# --------------------------------------------------------------------------- endpoints


def validate_events(events: Sequence[str]) -> list[str]:
    """The event types, deduplicated, in a stable order.

    Raises:
        ValidationError: empty, or an unknown type (``invalid_event_type``).
    """
    unknown = sorted({e for e in events if e not in EVENT_TYPES}, key=str)
    if unknown or not events:
        raise ValidationError(
            "Subscribe to at least one known event type.",
            code=NotificationsErrorCode.INVALID_EVENT_TYPE.value,
            details={"unknown": unknown[:20], "allowed": list(EVENT_TYPES)},
        )
    return [e for e in EVENT_TYPES if e in events]


def validate_url(url: str) -> str:
    """Check a URL when it is saved: syntax, scheme, port, and a literal IP address.

    Host names are resolved only when sending (an answer now proves nothing then).

    Raises:
        ssrf.InvalidWebhookURL: malformed.
        ssrf.ForbiddenWebhookURL: scheme, port or literal address not allowed.
    """
    import ipaddress

    _, host, _, _ = ssrf.parse_url(url)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return url.strip()
    if not ssrf.is_allowed_address(literal):
        raise ssrf.ForbiddenWebhookURL(details={"host": host})
    return url.strip()


def endpoints_for(owner: Any) -> QuerySet[WebhookEndpoint]:
    """``owner``'s endpoints (not the hidden per-request ones)."""
    return WebhookEndpoint.objects.filter(owner=owner, transcription_id__isnull=True)


def get_endpoint_for(owner: Any, pk: Any) -> WebhookEndpoint:
    """The endpoint, or NotFound — also for another user's (never a 403)."""
    return get_or_not_found(
        endpoints_for(owner),
        "Webhook endpoint not found.",
        code=NotificationsErrorCode.WEBHOOK_NOT_FOUND,
        pk=pk,
    )


def create_endpoint(
    owner: Any, *, url: str, events: Sequence[str], description: str = ""
) -> WebhookEndpoint:
    """A new enabled endpoint with a fresh secret (return it to the user once).

    Raises:
        ValidationError: bad URL or events, or too many endpoints.
    """
    url = validate_url(url)
    event_types = validate_events(events)
    if endpoints_for(owner).count() >= MAX_ENDPOINTS_PER_USER:
        raise ValidationError(
            f"At most {MAX_ENDPOINTS_PER_USER} webhook endpoints per user.",
            code=NotificationsErrorCode.TOO_MANY_WEBHOOKS.value,
        )
    return WebhookEndpoint.objects.create(
        owner=owner, url=url, events=event_types, description=description, secret=generate_secret()
    )


def update_endpoint(endpoint: WebhookEndpoint, **changes: Any) -> WebhookEndpoint:
    """Apply the given fields (``url``, ``events``, ``description``, ``enabled``).

    Re-enabling clears the failure count and the reason it was disabled.
    """
    if "url" in changes:
        endpoint.url = validate_url(changes["url"])
    if "events" in changes:
        endpoint.events = validate_events(changes["events"])
    if "description" in changes:
        endpoint.description = changes["description"]
    if "enabled" in changes:
        endpoint.enabled = bool(changes["enabled"])
        if endpoint.enabled:
            endpoint.consecutive_failures = 0
            endpoint.disabled_reason = ""
    endpoint.save()
    return endpoint


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    """A new secret signs from now on; the old one keeps signing too for 24 h."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + SECRET_OVERLAP
    endpoint.secret = generate_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return endpoint.secret


def request_webhook_secret(owner: Any, *, rotate: bool = False) -> str:
    """The secret that signs ``owner``'s per-request ``webhook_url`` deliveries."""
    record, created = RequestWebhookSecret.objects.get_or_create(
        owner=owner, defaults={"secret": generate_secret()}
    )
    if rotate and not created:
        record.secret = generate_secret()
        record.save(update_fields=["secret"])
    return record.secret


def register_request_webhook(owner: Any, transcription_id: Any, url: str) -> None:
    """Send ``transcription_id``'s events to ``url`` (``webhook_url`` on create).

    The job may already have finished (a fast worker; sync mode): once this is
    committed, a terminal status found on the transcription is published — at most once,
    as any event (its message is unique per endpoint and occurrence).

    Raises:
        ValidationError: the URL is malformed or not allowed.
    """
    url = validate_url(url)
    with transaction.atomic():
        WebhookEndpoint.objects.create(
            owner=owner,
            url=url,
            events=list(EVENT_TYPES),
            transcription_id=transcription_id,
            secret=request_webhook_secret(owner),
            description="webhook_url of a transcription request",
        )
        transaction.on_commit(lambda: _catch_up(owner, transcription_id))


def _catch_up(owner: Any, transcription_id: Any) -> None:
    from transcription_platform.transcriptions.services import get_transcription_for

    try:
        transcription = get_transcription_for(owner, transcription_id)
    except NotFound:
        return
    event_type = f"transcription.{transcription.status}"
    if event_type in EVENT_TYPES:
        _transcription_event(event_type, transcription)


def get_message_for(endpoint: WebhookEndpoint, message_id: str) -> WebhookMessage:
    return get_or_not_found(
        endpoint.messages.all(),
        "Webhook message not found.",
        code=NotificationsErrorCode.WEBHOOK_MESSAGE_NOT_FOUND,
        pk=message_id,
    )


# --------------------------------------------------------------------------- publishing


def publish(
    owner_id: Any,
    event_type: str,
    event_key: str,
    data: dict[str, Any] | Callable[[], dict[str, Any]],
    *,
    transcription_id: Any = None,
) -> list[str]:
    """One message per enabled endpoint of ``owner_id`` subscribed to ``event_type``
    (and per-request endpoints of ``transcription_id``); delivered after commit.

    ``event_key`` identifies the occurrence: publishing it again creates nothing.
    ``data`` may be a function that makes it: called only when an endpoint wants the
    event (most jobs' owners have none, and a transcript's payload is not free).
    Returns the ids of the messages created now.
    """
    endpoints = WebhookEndpoint.objects.filter(owner_id=owner_id, enabled=True)
    if transcription_id is None:
        endpoints = endpoints.filter(transcription_id__isnull=True)
    else:
        from django.db.models import Q

        endpoints = endpoints.filter(
            Q(transcription_id__isnull=True) | Q(transcription_id=transcription_id)
        )
    wanted = [endpoint for endpoint in endpoints if event_type in endpoint.events]
    if not wanted:
        return []
    payload = {
        "type": event_type,
        "timestamp": timezone.now().isoformat(),
        "data": data() if callable(data) else data,
    }
    created = []
    for endpoint in wanted:
        message_id = _create_message(endpoint, event_type, event_key, payload)
        if message_id:
            created.append(message_id)
    return created


def _create_message(
    endpoint: WebhookEndpoint, event_type: str, event_key: str, payload: dict[str, Any]
) -> str | None:
    message_id = f"msg_{uuid.uuid4().hex}"
    try:
        with transaction.atomic():
            WebhookMessage.objects.create(
                id=message_id,
                endpoint=endpoint,
                event_type=event_type,
                event_key=event_key,
                payload=payload,
                next_attempt_at=timezone.now(),
            )
            _enqueue_attempt(message_id, 1)
    except IntegrityError:
        return None  # this event already has its message for this endpoint
    return message_id


def send_test_event(endpoint: WebhookEndpoint) -> WebhookMessage:
    """Queue a ``webhook.test`` message to ``endpoint`` (signed and logged as any other).

    Raises:
        Conflict: the endpoint is disabled.
    """
    _require_enabled(endpoint)
    payload = {
        "type": TEST_EVENT,
        "timestamp": timezone.now().isoformat(),
        "data": {"endpoint_id": str(endpoint.pk)},
    }
    message_id = _create_message(endpoint, TEST_EVENT, f"{TEST_EVENT}:{uuid.uuid4()}", payload)
    assert message_id is not None  # a fresh key cannot collide
    return WebhookMessage.objects.get(pk=message_id)


def redeliver(message: WebhookMessage) -> WebhookMessage:
    """Attempt ``message`` again now, whatever its state (same ``webhook-id``).

    Raises:
        Conflict: the endpoint is disabled.
    """
    _require_enabled(message.endpoint)
    with transaction.atomic():
        message.status = MessageStatus.PENDING
        message.next_attempt_at = timezone.now()
        message.save(update_fields=["status", "next_attempt_at"])
        number = message.attempts + 1
        _enqueue_attempt(message.pk, number)
    return message


def _require_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict(
            "The webhook endpoint is disabled; enable it first.",
            code=NotificationsErrorCode.WEBHOOK_DISABLED.value,
        )


DELIVER_TASK = "transcription_platform.notifications.tasks.deliver_webhook"


def _enqueue_attempt(message_id: str, number: int, delay: float = 0.0) -> None:
    """Attempt ``number`` of a message: now (after commit, or in the caller's
    transaction with the ORM broker), or as a one-off schedule ``delay`` seconds on."""
    enqueue_task(
        DELIVER_TASK,
        message_id,
        number,
        task_name=f"webhook {message_id} #{number}",
        model=WebhookMessage,
        delay=delay,
    )


# --------------------------------------------------------------------------- delivering


def _retry_delay(number: int, retry_after: float | None) -> float | None:
    """Seconds before attempt ``number + 1``; None when the schedule is exhausted."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if number > len(schedule):
        return None
    delay = float(schedule[number - 1])
    if retry_after is not None:
        # Honour the receiver's hint, within the longest step of our own schedule.
        delay = max(delay, min(retry_after, float(max(schedule))))
    return delay


def deliver(message_id: str, number: int) -> WebhookAttempt | None:
    """Make attempt ``number`` of a message; None when it is not due (already made,
    delivered, or given up — a re-delivered task does nothing)."""
    claimed = WebhookMessage.objects.filter(
        pk=message_id, status=MessageStatus.PENDING, attempts=number - 1
    ).update(attempts=number)
    if not claimed:
        return None
    message = WebhookMessage.objects.select_related("endpoint").get(pk=message_id)
    endpoint = message.endpoint
    if not endpoint.enabled:
        return _record(message, number, error="endpoint disabled", final=True)

    body = json.dumps(message.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message.pk,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(endpoint, message.pk, timestamp, body),
    }
    started = time.monotonic()
    try:
        target = ssrf.check_url(endpoint.url)
    except ValidationError as exc:
        return _record(message, number, error=exc.message[:255], final=True)
    try:
        response = ssrf.post(target, body, headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    except (OSError, http.client.HTTPException) as exc:
        latency = _millis(started)
        return _record(
            message, number, error=f"{type(exc).__name__}: {exc}"[:255], latency_ms=latency
        )
    latency = _millis(started)
    status = response.status
    excerpt = response.body.decode("utf-8", "replace")[:RESPONSE_EXCERPT_CHARS]
    if 200 <= status < 300:
        return _record(
            message, number, status_code=status, excerpt=excerpt, latency_ms=latency, ok=True
        )
    if status == 410:
        _disable(endpoint, "gone")
        return _record(
            message, number, status_code=status, excerpt=excerpt, latency_ms=latency, final=True
        )
    stop = 400 <= status < 500 and status not in (408, 429)
    return _record(
        message,
        number,
        status_code=status,
        excerpt=excerpt,
        latency_ms=latency,
        final=stop,
        retry_after=retry_after_seconds(response.headers),
    )


def _millis(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _record(
    message: WebhookMessage,
    number: int,
    *,
    status_code: int | None = None,
    excerpt: str = "",
    latency_ms: int = 0,
    error: str = "",
    ok: bool = False,
    final: bool = False,
    retry_after: float | None = None,
) -> WebhookAttempt:
    """Log the attempt, then: done, schedule the next one, or give up."""
    delay = None if ok or final else _retry_delay(number, retry_after)
    next_at = timezone.now() + timedelta(seconds=delay) if delay is not None else None
    with transaction.atomic():
        attempt = WebhookAttempt.objects.create(
            message=message,
            number=number,
            status_code=status_code,
            latency_ms=latency_ms,
            response_excerpt=excerpt,
            error=error,
            succeeded=ok,
            next_attempt_at=next_at,
        )
        endpoint = message.endpoint
        if ok:
            message.status = MessageStatus.SUCCEEDED
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        elif delay is not None:
            # A zero step still goes through the schedule: no retry loop in this task.
            _enqueue_attempt(message.pk, number + 1, max(delay, 0.001))
        else:
            message.status = MessageStatus.FAILED
            _count_failure(endpoint)
        message.next_attempt_at = next_at
        message.save(update_fields=["status", "next_attempt_at"])
    return attempt


def _count_failure(endpoint: WebhookEndpoint) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    endpoint.refresh_from_db(fields=["consecutive_failures", "enabled"])
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    if endpoint.enabled and limit and endpoint.consecutive_failures >= limit:
        _disable(endpoint, "consecutive_failures")


def _disable(endpoint: WebhookEndpoint, reason: str) -> None:
    updated = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_reason=reason
    )
    if not updated:
        return
    endpoint.refresh_from_db()
    logger.warning("Webhook endpoint %s disabled: %s", endpoint.pk, reason)
    transaction.on_commit(
        lambda: webhook_endpoint_disabled.send(
            sender=WebhookEndpoint, endpoint=endpoint, reason=reason
        )
    )


# --------------------------------------------------------------------------- sweeping

#: A pending message whose attempt is this late lost its task (a worker died after the
#: claim, a broker or schedule row went away): the sweep enqueues its next attempt.
STALE_AFTER = timedelta(minutes=10)
#: Per-request endpoints (``webhook_url`` on create) are deleted this long after they
#: were made, once none of their messages is pending.
REQUEST_ENDPOINT_TTL = timedelta(days=7)
SWEEP_BATCH = 500


def recover_stale_messages(now: Any = None) -> int:
    """Enqueue the next attempt of every pending message overdue by `STALE_AFTER`.

    Safe beside a task that is only late: an attempt claims its number first
    (`deliver`), so of two tasks for one attempt only one sends.

    Args:
        now: The current time (tests travel in time).

    Returns:
        How many messages were re-enqueued.
    """
    now = now or timezone.now()
    cutoff = now - STALE_AFTER
    stale = WebhookMessage.objects.filter(status=MessageStatus.PENDING, next_attempt_at__lt=cutoff)
    recovered = 0
    for message_id, attempts in stale.values_list("pk", "attempts")[:SWEEP_BATCH]:
        with transaction.atomic():
            # Moving next_attempt_at on keeps a second sweep from enqueueing it again.
            claimed = WebhookMessage.objects.filter(
                pk=message_id,
                status=MessageStatus.PENDING,
                attempts=attempts,
                next_attempt_at__lt=cutoff,
            ).update(next_attempt_at=now)
            if claimed:
                _enqueue_attempt(message_id, attempts + 1)
                recovered += 1
    if recovered:
        logger.warning("Re-enqueued %d webhook message(s) whose delivery was lost", recovered)
    return recovered


def purge_request_endpoints(now: Any = None) -> int:
    """Delete per-request endpoints older than `REQUEST_ENDPOINT_TTL` with nothing
    pending (their delivery log goes with them).

    Args:
        now: The current time.

    Returns:
        How many endpoints were deleted.
    """
    now = now or timezone.now()
    expired = (
        WebhookEndpoint.objects.filter(
            transcription_id__isnull=False, created_at__lt=now - REQUEST_ENDPOINT_TTL
        )
        .exclude(messages__status=MessageStatus.PENDING)
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    deleted, _ = WebhookEndpoint.objects.filter(pk__in=list(expired)).delete()
    return len(expired) if deleted else 0


def sweep(now: Any = None) -> dict[str, int]:
    """`recover_stale_messages` and `purge_request_endpoints` (the scheduled sweep)."""
    return {
        "recovered": recover_stale_messages(now),
        "purged_request_endpoints": purge_request_endpoints(now),
    }


# --------------------------------------------------------------------------- signal receivers


def _transcription_event(event_type: str, transcription: Any) -> None:
    from transcription_platform.transcriptions.services import transcription_payload

    # The finishing time tells a second failure (after a retry) from the first.
    occurrence = transcription.completed_at.isoformat() if transcription.completed_at else ""
    publish(
        transcription.owner_id,
        event_type,
        f"{event_type}:{transcription.pk}:{occurrence}",
        lambda: transcription_payload(transcription),
        transcription_id=transcription.pk,
    )


def on_transcription_completed(sender: Any, transcription: Any, **kwargs: Any) -> None:
    """Receiver of ``transcription_completed``."""
    record_stream_event(transcription, "completed")
    _transcription_event("transcription.completed", transcription)


def on_transcription_failed(sender: Any, transcription: Any, **kwargs: Any) -> None:
    """Receiver of ``transcription_failed``."""
    record_stream_event(transcription, "failed")
    _transcription_event("transcription.failed", transcription)


def on_transcription_cancelled(sender: Any, transcription: Any, **kwargs: Any) -> None:
    """Receiver of ``transcription_cancelled``."""
    record_stream_event(transcription, "cancelled")
    _transcription_event("transcription.cancelled", transcription)


def on_transcription_created(sender: Any, transcription: Any, **kwargs: Any) -> None:
    """Receiver of ``transcription_created``: a ``status`` event (pending)."""
    record_stream_event(transcription, "status")


def on_transcription_started(sender: Any, transcription: Any, **kwargs: Any) -> None:
    """Receiver of ``transcription_started``: a ``status`` event (processing)."""
    record_stream_event(transcription, "status")


def on_transcription_retried(sender: Any, transcription: Any, **kwargs: Any) -> None:
    """Receiver of ``transcription_retried``: a ``status`` event (pending again)."""
    record_stream_event(transcription, "status")


def on_transcription_progress(sender: Any, transcription: Any, **kwargs: Any) -> None:
    """Receiver of ``transcription_progress``: a ``progress`` event."""
    record_stream_event(transcription, "progress")


def _analysis_event(event_type: str, transcription: Any, analysis: Any) -> None:
    if not apps.is_installed("transcription_platform.analysis"):
        return
    from transcription_platform.analysis.services import analysis_payload

    occurrence = analysis.completed_at.isoformat() if analysis.completed_at else ""
    publish(
        transcription.owner_id,
        event_type,
        f"{event_type}:{transcription.pk}:{occurrence}",
        lambda: analysis_payload(analysis),
        transcription_id=transcription.pk,
    )


def on_analysis_completed(sender: Any, transcription: Any, analysis: Any, **kwargs: Any) -> None:
    """Receiver of ``analysis_completed``."""
    _analysis_event("analysis.completed", transcription, analysis)


def on_analysis_failed(sender: Any, transcription: Any, analysis: Any, **kwargs: Any) -> None:
    """Receiver of ``analysis_failed``."""
    _analysis_event("analysis.failed", transcription, analysis)


# --------------------------------------------------------------------------- real-time events


def record_stream_event(transcription: Any, event_type: str) -> None:
    """Log a real-time event of ``transcription`` for its owner's streams.

    Called by the signal receivers, after the job's change is committed: a failure here
    is logged and loses the live event (streams still show the state on reconnect), it
    never fails the job.
    """
    try:
        streams.record(transcription, event_type)
    except DatabaseError:
        logger.exception("Could not record the %s event of %s", event_type, transcription.pk)


def issue_stream_token(user: Any) -> str:
    """A stream token for ``user`` (``POST /events/token``)."""
    return streams.issue_stream_token(user)


def stream_token_ttl() -> int:
    """Seconds a stream token may open streams."""
    return int(settings.EVENTS_TOKEN_TTL_SECONDS)
