"""A job's life seen by a real receiver on 127.0.0.1, verifying with ``standardwebhooks``;
retries follow the schedule (time-travelled, never slept)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from django.utils import timezone
from django_q.models import Schedule
from django_q.scheduler import scheduler
from model_bakery import baker
from standardwebhooks import Webhook

from tests.fixtures.api import API
from tests.fixtures.uploads import upload
from transcription_platform import signals
from transcription_platform.notifications import services
from transcription_platform.notifications.models import (
    MessageStatus,
    WebhookEndpoint,
    WebhookMessage,
)
from transcription_platform.notifications.signals import webhook_endpoint_disabled
from transcription_platform.transcriptions.models import Transcription

# Every test stores audio in its own empty directory.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tmp_storage")]

FAKE = "transcription_platform.engines.fake.FakeEngine"
ALL_EVENTS = list(services.EVENT_TYPES)
SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]


@pytest.fixture
def platform(loopback_allowed):
    """Loopback receiver allowed; the FakeEngine; analysis on."""

    def configure(**extra):
        return override_settings(
            TRANSCRIPTION_PLATFORM={
                **django_settings.TRANSCRIPTION_PLATFORM,
                "ENGINES": {"default": {"BACKEND": FAKE, "OPTIONS": extra}},
                "ANALYSIS_ENABLED": True,
                "TASK_RETRY_BACKOFF_SECONDS": 0,
                "WEBHOOK_ALLOWED_NETWORKS": ["127.0.0.0/8"],
                "WEBHOOK_ALLOWED_PORTS": None,
            }
        )

    return configure


@pytest.fixture
def tone(tmp_path):
    from tests.fixtures.audio import write_audio

    return write_audio(tmp_path / "tone.wav", [(2.0, 440)])


def _endpoint(client, url, events=ALL_EVENTS) -> dict:
    response = client.post(
        f"{API}/webhooks/", {"url": url, "events": events}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def _upload(client, path, captured, **fields) -> dict:
    with captured(execute=True):
        response = upload(client, path, **fields)
    assert response.status_code == 201, response.content
    return response.json()


def time_travel_and_run_schedules() -> int:
    """Make every due-later webhook attempt due now and let django-q2's scheduler run
    them (sync mode runs the task inline). Returns how many ran."""
    due = Schedule.objects.filter(name__startswith="webhook ")
    count = due.count()
    due.update(next_run=timezone.now() - timedelta(seconds=1))
    scheduler()
    return count


def scheduled_delay() -> float:
    (schedule,) = Schedule.objects.filter(name__startswith="webhook ")
    return (schedule.next_run - timezone.now()).total_seconds()


def test_every_event_of_a_jobs_life_arrives_signed(
    platform, auth_client, user, receiver, tone, django_capture_on_commit_callbacks
):
    with platform():
        secret = _endpoint(auth_client, receiver.url)["secret"]
        completed = _upload(auth_client, tone, django_capture_on_commit_callbacks)
    with platform(failures=["permanent"]):
        failed = _upload(auth_client, tone, django_capture_on_commit_callbacks)
    with platform(latency=0):
        pending = baker.make(Transcription, owner=user, status="pending", engine="default")
        with django_capture_on_commit_callbacks(execute=True):
            response = auth_client.post(f"{API}/transcriptions/{pending.pk}/cancel")
        assert response.status_code == 200

    webhook = Webhook(secret)
    events = [
        (payload["type"], str(payload["data"].get("id") or payload["data"]["transcription_id"]))
        for payload in (webhook.verify(r.body, r.headers) for r in receiver.received)
    ]
    assert sorted(events) == sorted(
        [
            ("transcription.completed", completed["id"]),
            ("analysis.completed", completed["id"]),
            ("transcription.failed", failed["id"]),
            ("transcription.cancelled", str(pending.pk)),
        ]
    )
    # The data is the resource as the API returns it.
    done = next(
        r.json() for r in receiver.received if r.json()["type"] == "transcription.completed"
    )
    detail = auth_client.get(f"{API}/transcriptions/{completed['id']}").json()
    # usage grows after the event (billing records the analysis step later): the rest
    # is the resource exactly as the API returns it.
    assert {k: v for k, v in done["data"].items() if k != "usage"} == {
        k: v for k, v in detail.items() if k != "usage"
    }
    assert done["data"]["usage"].keys() <= detail["usage"].keys()
    assert done["data"]["status"] == "completed"
    analysis = next(r.json() for r in receiver.received if r.json()["type"] == "analysis.completed")
    assert analysis["data"] == (
        auth_client.get(f"{API}/transcriptions/{completed['id']}/analysis").json()
    )
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(set(ids)) == len(ids) == 4


def test_unsubscribed_events_and_other_users_get_nothing(
    platform, auth_client, other_client, receiver, tone, django_capture_on_commit_callbacks
):
    with platform():
        _endpoint(auth_client, receiver.url, events=["transcription.failed"])
        _endpoint(other_client, receiver.url)
        _upload(auth_client, tone, django_capture_on_commit_callbacks)
    assert receiver.received == []


def test_one_message_per_event_even_when_the_signal_repeats(
    platform, auth_client, receiver, tone, django_capture_on_commit_callbacks
):
    with platform():
        _endpoint(auth_client, receiver.url, events=["transcription.completed"])
        job = _upload(auth_client, tone, django_capture_on_commit_callbacks)
        transcription = Transcription.objects.get(pk=job["id"])
        with django_capture_on_commit_callbacks(execute=True):
            signals.transcription_completed.send(sender=Transcription, transcription=transcription)
    assert WebhookMessage.objects.count() == 1
    (message,) = WebhookMessage.objects.all()
    # A re-delivered attempt task does nothing either.
    assert services.deliver(message.pk, 1) is None
    assert len(receiver.received) == 1


def test_retries_follow_the_schedule_with_a_stable_id(
    platform, auth_client, receiver, django_capture_on_commit_callbacks
):
    receiver.script += [
        (500, {}, b"boom"),
        (503, {}, b""),
        (429, {"Retry-After": "4000"}, b""),  # longer than the 1800 s step: honoured
        (408, {}, b""),
        (301, {"Location": "http://169.254.169.254/"}, b""),  # never followed
    ]
    with platform():
        endpoint = _endpoint(auth_client, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            auth_client.post(f"{API}/webhooks/{endpoint['id']}/test")
        delays = [scheduled_delay()]
        for _ in range(4):
            assert time_travel_and_run_schedules() == 1
            delays.append(scheduled_delay())
        assert time_travel_and_run_schedules() == 1

    expected = [5, 300, 4000, 7200, 18000]
    assert [round(d) for d in delays] == pytest.approx(expected, abs=2)
    assert len(receiver.received) == 6
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    webhook = Webhook(endpoint["secret"])
    for request in receiver.received:
        webhook.verify(request.body, request.headers)
    (message,) = WebhookMessage.objects.all()
    assert message.status == MessageStatus.SUCCEEDED
    assert [a.status_code for a in message.log.all()] == [500, 503, 429, 408, 301, 204]
    assert not Schedule.objects.filter(name__startswith="webhook ").exists()


def test_the_schedule_ends_and_the_message_fails(
    platform, auth_client, receiver, django_capture_on_commit_callbacks
):
    receiver.script += [(500, {}, b"")] * 20
    with platform():
        endpoint = _endpoint(auth_client, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            auth_client.post(f"{API}/webhooks/{endpoint['id']}/test")
        while Schedule.objects.filter(name__startswith="webhook ").exists():
            time_travel_and_run_schedules()
    assert len(receiver.received) == 1 + len(SCHEDULE)
    (message,) = WebhookMessage.objects.all()
    assert message.status == MessageStatus.FAILED
    assert message.next_attempt_at is None
    assert WebhookEndpoint.objects.get().consecutive_failures == 1


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_a_client_error_stops_without_retrying(
    status, platform, auth_client, receiver, django_capture_on_commit_callbacks
):
    receiver.script.append((status, {}, b"x" * 5000))
    with platform():
        endpoint = _endpoint(auth_client, receiver.url)
        with django_capture_on_commit_callbacks(execute=True):
            auth_client.post(f"{API}/webhooks/{endpoint['id']}/test")
    (message,) = WebhookMessage.objects.all()
    assert message.status == MessageStatus.FAILED
    assert not Schedule.objects.filter(name__startswith="webhook ").exists()
    assert len(message.log.get().response_excerpt) == services.RESPONSE_EXCERPT_CHARS
    assert WebhookEndpoint.objects.get().enabled is True


def test_410_disables_the_endpoint_and_tells_its_owner(
    platform, auth_client, user, receiver, django_capture_on_commit_callbacks
):
    told = []

    def on_disabled(sender, endpoint, reason, **kwargs):
        told.append((endpoint.owner_id, reason))

    webhook_endpoint_disabled.connect(on_disabled, weak=False)
    receiver.script.append((410, {}, b""))
    try:
        with platform():
            endpoint = _endpoint(auth_client, receiver.url)
            with django_capture_on_commit_callbacks(execute=True):
                auth_client.post(f"{API}/webhooks/{endpoint['id']}/test")
    finally:
        webhook_endpoint_disabled.disconnect(on_disabled)
    stored = WebhookEndpoint.objects.get()
    assert (stored.enabled, stored.disabled_reason) == (False, "gone")
    assert told == [(user.pk, "gone")]
    assert not Schedule.objects.filter(name__startswith="webhook ").exists()


def test_consecutive_failed_messages_disable_the_endpoint(
    platform, auth_client, user, receiver, django_capture_on_commit_callbacks
):
    told = []

    def on_disabled(sender, endpoint, reason, **kwargs):
        told.append(reason)

    webhook_endpoint_disabled.connect(on_disabled, weak=False)
    receiver.script += [(400, {}, b"")] * 3
    values = {**django_settings.TRANSCRIPTION_PLATFORM, "WEBHOOK_DISABLE_AFTER_FAILURES": 3}
    try:
        with (
            platform(),
            override_settings(
                TRANSCRIPTION_PLATFORM={
                    **values,
                    "WEBHOOK_ALLOWED_NETWORKS": ["127.0.0.0/8"],
                    "WEBHOOK_ALLOWED_PORTS": None,
                }
            ),
        ):
            endpoint = _endpoint(auth_client, receiver.url)
            for _ in range(3):
                with django_capture_on_commit_callbacks(execute=True):
                    auth_client.post(f"{API}/webhooks/{endpoint['id']}/test")
    finally:
        webhook_endpoint_disabled.disconnect(on_disabled)
    stored = WebhookEndpoint.objects.get()
    assert (stored.enabled, stored.disabled_reason) == (False, "consecutive_failures")
    assert told == ["consecutive_failures"]
    # Enabling it again resets the count.
    response = auth_client.patch(
        f"{API}/webhooks/{endpoint['id']}", {"enabled": True}, content_type="application/json"
    )
    assert response.json()["consecutive_failures"] == 0


def test_a_connection_failure_is_retried(
    platform, auth_client, django_capture_on_commit_callbacks, no_outside_connections
):
    # A port in our range with nothing listening: connection refused, on loopback.
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with platform():
        endpoint = _endpoint(auth_client, f"http://127.0.0.1:{port}/")
        with django_capture_on_commit_callbacks(execute=True):
            auth_client.post(f"{API}/webhooks/{endpoint['id']}/test")
    (message,) = WebhookMessage.objects.all()
    assert message.status == MessageStatus.PENDING
    assert "ConnectionRefused" in message.log.get().error
    assert round(scheduled_delay()) == 5


def test_per_request_webhook_url_gets_that_jobs_events(
    platform, auth_client, receiver, tone, django_capture_on_commit_callbacks
):
    with platform():
        secret = auth_client.post(f"{API}/webhooks/request-secret").json()["secret"]
        job = _upload(
            auth_client, tone, django_capture_on_commit_callbacks, webhook_url=receiver.url
        )
        other = _upload(auth_client, tone, django_capture_on_commit_callbacks)
    types = []
    for request in receiver.received:
        payload = Webhook(secret).verify(request.body, request.headers)
        assert payload["data"].get("id", payload["data"].get("transcription_id")) == job["id"]
        types.append(payload["type"])
    assert "transcription.completed" in types
    assert other["id"] != job["id"]
    assert auth_client.get(f"{API}/webhooks/").json()["count"] == 0


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest/meta-data/", "ftp://x/", "http://[::1]/", "x\x00"]
)
def test_a_refused_webhook_url_creates_no_job(
    url, auth_client, tone, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(auth_client, tone, webhook_url=url)
    assert response.status_code == 400, response.content
    # A NUL is refused by the platform-wide input rule before the URL policy looks.
    assert response.json()["error"]["code"] in (
        "webhook_url_forbidden",
        "invalid_webhook_url",
        "validation_error",
    )
    assert not Transcription.objects.exists()
