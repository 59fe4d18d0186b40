"""The real-time event log, its ids and the streams' logic (the WSGI path, in-process).

The ASGI path (a real uvicorn process, LISTEN/NOTIFY and polling) is tested in
test_streams_asgi.py.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client, override_settings

from tests.fixtures.api import API, assert_error, bearer_client
from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.users import make_user
from transcription_platform.engines import TranscriptResult
from transcription_platform.notifications import streams
from transcription_platform.notifications.models import StreamEvent
from transcription_platform.transcriptions import services

# Events are recorded after commit (signal receivers run on commit).
pytestmark = pytest.mark.django_db(transaction=True)


def _events(owner) -> list[tuple[int, str, str]]:
    rows = StreamEvent.objects.filter(owner=owner).order_by("event_id")
    return [(r.event_id, r.event_type, r.data["status"]) for r in rows]


def _parse(body: bytes) -> list[dict]:
    events = []
    for block in body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and ": " in line)
        if "data" in fields:
            events.append({**fields, "data": json.loads(fields["data"])})
    return events


def test_every_change_of_a_job_is_logged_with_the_next_id_of_its_owner(user):
    job = make_transcription(user)
    services.start_processing(job.pk)
    services.set_progress(job.pk, 40)
    services.set_progress(job.pk, 30)  # backwards: not a change, no event
    services.complete(job.pk, TranscriptResult(text="hi"))
    other = make_transcription(make_user("bob"))
    services.start_processing(other.pk)
    assert _events(user) == [
        (1, "status", "processing"),
        (2, "progress", "processing"),
        (3, "completed", "completed"),
    ]
    assert [e[0] for e in _events(other.owner)] == [1]  # ids count per user


def test_retry_and_failure_are_events(user):
    job = make_transcription(user, status="processing")
    services.fail(job.pk, "engine_error", "x" * 5000)
    services.retry(job)
    # (The retried job runs again in sync mode: more events follow.)
    failed, retried, *_ = StreamEvent.objects.filter(owner=user).order_by("event_id")
    assert failed.event_type == "failed"
    assert failed.data["error_code"] == "engine_error"
    assert len(failed.data["error_message"]) == streams.MAX_MESSAGE_CHARS  # fits a NOTIFY
    assert (retried.event_type, retried.data["status"]) == ("status", "pending")


@override_settings(TRANSCRIPTION_PLATFORM={"EVENTS_LOG_SIZE": 20})
def test_the_log_is_bounded_per_user_and_an_old_cursor_gets_the_state(user):
    job = make_transcription(user, status="processing")
    for percent in range(1, 100):
        services.set_progress(job.pk, percent)
    kept = StreamEvent.objects.filter(owner=user)
    assert kept.count() <= 20 + streams.PRUNE_EVERY
    assert streams.last_event_id(user.pk) == 99
    # Resumable: the events after the cursor, of this job.
    events, cursor = streams.open_job_stream(job, 97)
    assert [e.event_id for e in events] == [98, 99]
    assert cursor == 99
    # Pruned past the cursor (or an id we never gave): the job's state instead.
    for last_id in (2, 1000):
        events, cursor = streams.open_job_stream(job, last_id)
        assert [(e.event_type, e.event_id, e.data["progress"]) for e in events] == [
            ("status", 99, 99)
        ]


def test_the_polling_listener_reads_only_what_moved(user):
    bob = make_user("bob")
    job = make_transcription(user, status="processing")
    known = {user.pk: -1, bob.pk: -1}
    events, known = streams.poll(known)
    assert events == []
    assert known == {user.pk: 0, bob.pk: 0}
    services.set_progress(job.pk, 10)
    services.set_progress(job.pk, 20)
    events, known = streams.poll(known)
    assert [(e.owner_id, e.event_id, e.data["progress"]) for e in events] == [
        (user.pk, 1, 10),
        (user.pk, 2, 20),
    ]
    assert streams.poll(known) == ([], known)


def test_a_finished_jobs_stream_sends_its_state_and_ends(user):
    job = make_transcription(user, status="completed")
    response = bearer_client(user).get(f"{API}/transcriptions/{job.pk}/events")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    body = b"".join(response.streaming_content)
    assert body.startswith(b"retry: 3000\n\n")
    (event,) = _parse(body)
    assert event["event"] == "completed"
    assert event["data"] == {
        "transcription_id": str(job.pk),
        "status": "completed",
        "progress": 100,
    }


def test_a_job_stream_under_wsgi_replays_from_last_event_id(user):
    job = make_transcription(user)
    services.start_processing(job.pk)
    services.set_progress(job.pk, 50)
    services.fail(job.pk, "engine_error", "gave up")
    response = bearer_client(user).get(
        f"{API}/transcriptions/{job.pk}/events", HTTP_LAST_EVENT_ID="1"
    )
    events = _parse(b"".join(response.streaming_content))
    assert [(e["id"], e["event"]) for e in events] == [("2", "progress"), ("3", "failed")]
    assert events[-1]["data"]["error_message"] == "gave up"


def test_stream_tokens(user):
    response = bearer_client(user).post(f"{API}/events/token")
    assert response.status_code == 200
    token = response.json()["token"]
    assert streams.user_for_stream_token(token) == user
    assert streams.user_for_stream_token(token + "x") is None
    assert streams.user_for_stream_token("") is None
    with override_settings(TRANSCRIPTION_PLATFORM={"EVENTS_TOKEN_TTL_SECONDS": -1}):
        assert streams.user_for_stream_token(token) is None  # expired
    user.is_active = False
    user.save()
    assert streams.user_for_stream_token(token) is None
    assert_error(Client().post(f"{API}/events/token"), 401)


def test_refusals(user):
    job = make_transcription(user)
    other = make_transcription(make_user("bob"))
    client = Client()
    assert_error(client.get(f"{API}/events"), 401, "not_authenticated")
    assert_error(
        client.get(f"{API}/transcriptions/{job.pk}/events?token=nope"), 401, "invalid_stream_token"
    )
    assert_error(bearer_client(user).get(f"{API}/transcriptions/{other.pk}/events"), 404)
    assert_error(bearer_client(user).get(f"{API}/transcriptions/not-a-uuid/events"), 404)
    assert_error(bearer_client(user).delete(f"{API}/events"), 405, "method_not_allowed")


def test_an_event_is_one_statement_on_postgresql_with_the_payload_of_to_json(user):
    """The user's first event creates their sequence (steps); the next ones are one
    statement each, logged and announced exactly as the step-by-step path does."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    if connection.vendor != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's (set DATABASE_URL)")
    import psycopg

    job = make_transcription(user, status="processing")
    params = connection.get_connection_params()
    listener = psycopg.connect(**params, autocommit=True)
    try:
        listener.execute(f"LISTEN {streams.CHANNEL}")
        with transaction.atomic():
            first = streams.record(job, "status")
            with CaptureQueriesContext(connection) as queries:
                second = streams.record(job, "progress")
        assert len(queries) == 1
        assert (first.event_id, second.event_id) == (1, 2)
        payloads = [n.payload for n in listener.notifies(timeout=5, stop_after=2)]
    finally:
        listener.close()
    assert payloads == [first.to_json(), second.to_json()]
    assert [streams.Event.from_json(p) for p in payloads] == [first, second]
    assert streams.events_after(user.pk, 0) == [first, second]
