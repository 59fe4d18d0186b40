"""The scheduled sweep: lost deliveries are re-enqueued, expired per-request endpoints go."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule
from standardwebhooks import Webhook

from transcription_platform.notifications import services
from transcription_platform.notifications.models import (
    MessageStatus,
    WebhookEndpoint,
    WebhookMessage,
)
from transcription_platform.notifications.tasks import SWEEP_SCHEDULE_NAME, ensure_sweep_schedule

pytestmark = pytest.mark.django_db


def _lost_message(endpoint, late: timedelta, attempts: int = 0) -> WebhookMessage:
    """A pending message whose delivery task never ran (nothing was enqueued)."""
    return WebhookMessage.objects.create(
        id=f"msg_{uuid.uuid4().hex}",
        endpoint=endpoint,
        event_type="webhook.test",
        event_key=f"webhook.test:{uuid.uuid4()}",
        payload={"type": "webhook.test", "timestamp": "2026-01-01T00:00:00Z", "data": {}},
        attempts=attempts,
        next_attempt_at=timezone.now() - late,
    )


def test_a_lost_delivery_is_sent_by_the_sweep(
    user, receiver, loopback_allowed, django_capture_on_commit_callbacks
):
    endpoint = services.create_endpoint(user, url=receiver.url, events=["transcription.completed"])
    lost = _lost_message(endpoint, timedelta(hours=1))
    claimed = _lost_message(endpoint, timedelta(hours=1), attempts=1)  # died mid-attempt
    late = _lost_message(endpoint, timedelta(minutes=1))  # maybe only queued: left alone
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep() == {"recovered": 2, "purged_request_endpoints": 0}
    assert services.recover_stale_messages() == 0  # nothing twice
    for message, attempt in ((lost, 1), (claimed, 2)):
        message.refresh_from_db()
        assert message.status == MessageStatus.SUCCEEDED
        assert [a.number for a in message.log.all()] == [attempt]
    late.refresh_from_db()
    assert (late.status, late.attempts) == (MessageStatus.PENDING, 0)
    webhook = Webhook(endpoint.secret)
    assert sorted(r.headers["webhook-id"] for r in receiver.received) == sorted(
        [lost.pk, claimed.pk]
    )
    for request in receiver.received:
        webhook.verify(request.body, request.headers)


def test_expired_per_request_endpoints_are_purged(user):
    old = timezone.now() - services.REQUEST_ENDPOINT_TTL - timedelta(hours=1)

    def endpoint(transcription_id, created_at, pending=False):
        made = WebhookEndpoint.objects.create(
            owner=user,
            url="https://hooks.example.com/x",
            events=list(services.EVENT_TYPES),
            transcription_id=transcription_id,
            secret=services.generate_secret(),
        )
        WebhookEndpoint.objects.filter(pk=made.pk).update(created_at=created_at)
        message = _lost_message(made, timedelta(0))
        if not pending:
            WebhookMessage.objects.filter(pk=message.pk).update(status=MessageStatus.SUCCEEDED)
        return made.pk

    used = endpoint(uuid.uuid4(), old)
    still_sending = endpoint(uuid.uuid4(), old, pending=True)
    fresh = endpoint(uuid.uuid4(), timezone.now())
    users_own = endpoint(None, old)
    assert services.purge_request_endpoints() == 1
    assert set(WebhookEndpoint.objects.values_list("pk", flat=True)) == {
        still_sending,
        fresh,
        users_own,
    }
    assert not WebhookMessage.objects.filter(endpoint_id=used).exists()


def test_migrate_keeps_one_sweep_schedule():
    ensure_sweep_schedule()
    ensure_sweep_schedule()
    (schedule,) = Schedule.objects.filter(name=SWEEP_SCHEDULE_NAME)
    assert schedule.func == "transcription_platform.notifications.tasks.sweep_webhooks"
    assert schedule.minutes == 5
