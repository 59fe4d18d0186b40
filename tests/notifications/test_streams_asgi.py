"""The event streams against a real uvicorn process, with a real HTTP client (httpx).

The test process changes jobs through the transcriptions services (as a worker does);
their events reach the server process through PostgreSQL NOTIFY (or its polling
fallback) and the streams.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from django.db import connection

from tests.fixtures.servers import server_env, threads, uvicorn
from tests.fixtures.transcriptions import make_transcription

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

API = "/rest/api/v1"


@pytest.fixture(scope="module", params=["postgres", "poll"])
def server(request, django_db_setup, django_db_blocker, tmp_path_factory):
    """uvicorn hearing events through LISTEN/NOTIFY, then through its polling fallback
    (one process per module and kind: starting one takes seconds on a loaded machine)."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.skip("the server process shares the database: set DATABASE_URL")
        env = server_env(
            tmp_path_factory.mktemp("media"),
            TP_EVENTS_FANOUT=request.param,
            TP_EVENTS_KEEPALIVE="1",
            TP_EVENTS_POLL="0.2",
        )
    with uvicorn(env) as (url, process):
        process.fanout = request.param
        yield url, process


@pytest.fixture
def api_key(user) -> str:
    from transcription_platform.accounts.services import create_api_key

    _key, secret = create_api_key(user, "events")
    return str(secret)


@dataclass
class SSE:
    id: str | None
    event: str | None
    data: Any


def _read(response: httpx.Response, into: queue.Queue) -> None:
    """Parse the stream into ``into``: SSE events, ``":"`` comments, ``"retry"`` (the
    stream is live), None at the end."""
    fields: dict[str, str] = {}
    try:
        for line in response.iter_lines():
            if line.startswith(":"):
                into.put(":")
            elif line.startswith("retry: "):
                into.put("retry")
            elif line:
                name, _, value = line.partition(": ")
                fields[name] = value
            elif "data" in fields:
                into.put(SSE(fields.get("id"), fields.get("event"), json.loads(fields["data"])))
                fields = {}
            else:
                fields = {}
    except httpx.HTTPError:
        pass
    into.put(None)


class Stream:
    """An open stream read on a thread; `next` waits for its next event."""

    def __init__(self, client: httpx.Client, url: str, headers: dict[str, str]) -> None:
        self.events: queue.Queue = queue.Queue()
        self._cm = client.stream("GET", url, headers=headers)
        self.response = self._cm.__enter__()
        self._thread = threading.Thread(target=_read, args=(self.response, self.events))
        self._thread.start()
        if self.response.status_code == 200:
            # The first line: from here on every event committed reaches this stream.
            assert self.events.get(timeout=10) == "retry"

    def next(self, timeout: float = 10.0, comments: bool = False) -> Any:
        """The next event (or comment), None once the stream ended.

        Raises:
            queue.Empty: Nothing within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            item = self.events.get(timeout=max(deadline - time.monotonic(), 0.001))
            if item != ":" or comments:
                return item

    def close(self) -> None:
        """Hang up, as a client that goes away does (the reader thread wakes up)."""
        sock = self.response.extensions["network_stream"].get_extra_info("socket")
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        self.response.close()
        self._cm.__exit__(None, None, None)
        self._thread.join(5)


def _stream(url: str, path: str, key: str | None = None, **headers: str) -> Stream:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    client = httpx.Client(timeout=httpx.Timeout(30.0))
    return Stream(client, f"{url}{API}{path}", headers)


def _advance(transcription, *steps: str) -> None:
    """Move a job the way a worker does, through the lifecycle services."""
    from transcription_platform.engines import TranscriptResult
    from transcription_platform.transcriptions import services

    for step in steps:
        if step == "start":
            services.start_processing(transcription.pk)
        elif step.startswith("progress"):
            services.set_progress(transcription.pk, int(step.split(":")[1]))
        elif step == "complete":
            services.complete(transcription.pk, TranscriptResult(text="hello"))
        elif step == "fail":
            services.fail(transcription.pk, "engine_error", "The engine gave up.")
        time.sleep(0.05)


def test_a_job_stream_follows_the_job_to_its_end(server, user, api_key):
    url, _process = server
    transcription = make_transcription(user)
    stream = _stream(
        url, f"/transcriptions/{transcription.pk}/events", Authorization=f"Bearer {api_key}"
    )
    assert stream.response.status_code == 200
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    first = stream.next()
    assert (first.event, first.data["status"]) == ("status", "pending")
    _advance(transcription, "start", "progress:30", "progress:60", "complete")
    events = [stream.next() for _ in range(4)]
    assert [e.event for e in events] == ["status", "progress", "progress", "completed"]
    assert [e.data["progress"] for e in events] == [0, 30, 60, 100]
    ids = [int(e.id) for e in [first, *events]]
    assert ids == sorted(ids)
    assert len(set(ids)) == 5
    assert stream.next() is None  # the stream ended after the terminal event
    stream.close()


def _listeners() -> int:
    """Backends of the server processes' event listeners (LISTEN connections)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            ["transcription-platform-events"],
        )
        return int(cursor.fetchone()[0])


def test_reconnecting_with_last_event_id_misses_nothing(server, user, api_key):
    """The user-wide stream drops mid-job; events happen while it is away; the
    reconnect with Last-Event-ID gets exactly the rest, then live events."""
    url, _process = server
    first_job, second_job = make_transcription(user), make_transcription(user)
    stream = _stream(url, "/events", api_key)
    _advance(first_job, "start", "progress:20")
    seen = [stream.next(), stream.next()]
    assert [e.event for e in seen] == ["status", "progress"]
    stream.close()

    # While nobody listens: both jobs move on.
    _advance(first_job, "progress:70")
    _advance(second_job, "start")
    _advance(first_job, "complete")
    _advance(second_job, "fail")

    resumed = _stream(url, "/events", api_key, **{"Last-Event-ID": seen[-1].id})
    missed = [resumed.next() for _ in range(4)]
    assert [(e.event, e.data["transcription_id"]) for e in missed] == [
        ("progress", str(first_job.pk)),
        ("status", str(second_job.pk)),
        ("completed", str(first_job.pk)),
        ("failed", str(second_job.pk)),
    ]
    assert missed[-1].data["error_code"] == "engine_error"
    ids = [int(e.id) for e in seen + missed]
    assert ids == list(range(ids[0], ids[0] + 6))  # no gap, no repeat
    third_job = make_transcription(user)
    _advance(third_job, "start")
    live = resumed.next()
    assert (live.event, live.data["transcription_id"]) == ("status", str(third_job.pk))
    assert int(live.id) == ids[-1] + 1
    resumed.close()


def test_a_job_stream_resumes_and_ends_after_a_missed_terminal_event(server, user, api_key):
    url, _process = server
    job = make_transcription(user)
    path = f"/transcriptions/{job.pk}/events"
    stream = _stream(url, path, api_key)
    first = stream.next()
    _advance(job, "start")
    started = stream.next()
    stream.close()
    _advance(job, "progress:50", "complete")
    resumed = _stream(url, path, api_key, **{"Last-Event-ID": started.id})
    assert [resumed.next().event, resumed.next().event] == ["progress", "completed"]
    assert resumed.next() is None
    resumed.close()
    # A finished job's stream, without Last-Event-ID: its end state, then the end.
    again = _stream(url, path, api_key)
    assert again.next().event == "completed"
    assert again.next() is None
    again.close()
    assert int(first.id) < int(started.id)


def test_keep_alive_comments_while_nothing_happens(server, user, api_key):
    url, _process = server
    stream = _stream(url, "/events", api_key)
    assert [stream.next(timeout=5, comments=True) for _ in range(2)] == [":", ":"]
    stream.close()


def test_a_stream_token_opens_streams_for_browsers(server, user, api_key):
    url, _process = server
    job = make_transcription(user)
    response = httpx.post(
        f"{url}{API}/events/token", headers={"Authorization": f"Bearer {api_key}"}
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert response.json()["expires_in"] == 300
    stream = _stream(url, f"/transcriptions/{job.pk}/events?token={token}")
    assert stream.next().data["transcription_id"] == str(job.pk)
    stream.close()
    # The token is no API credential.
    listed = httpx.get(f"{url}{API}/transcriptions/", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 401


def test_refusals_are_json_errors(server, user, api_key):
    from tests.fixtures.users import make_user

    url, _process = server
    job = make_transcription(user)
    other = make_transcription(make_user("bob"))
    cases = [
        (f"/transcriptions/{job.pk}/events", {}, 401, "not_authenticated"),
        (f"/transcriptions/{job.pk}/events?token=forged", {}, 401, "invalid_stream_token"),
        ("/events", {"Authorization": "Bearer tp_wrong"}, 401, "not_authenticated"),
        (f"/transcriptions/{other.pk}/events", {"Authorization": f"Bearer {api_key}"}, 404, None),
    ]
    for path, headers, status, code in cases:
        response = httpx.get(f"{url}{API}{path}", headers=headers, timeout=10)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/json"
        if code:
            assert response.json()["error"]["code"] == code
    posted = httpx.post(f"{url}{API}/events", headers={"Authorization": f"Bearer {api_key}"})
    assert posted.status_code == 405


def test_idle_streams_hold_no_thread_and_close_cleanly(server, user, api_key):
    """40 idle streams: the server's thread count stays bounded (no thread per stream),
    one listener serves them all, and it closes when the last client goes away."""
    url, process = server
    idle = threads(process.pid)
    streams = [_stream(url, "/events", api_key) for _ in range(40)]
    job = make_transcription(user)
    _advance(job, "start")
    for stream in streams:  # every stream is live: each gets the same event
        assert stream.next().data["transcription_id"] == str(job.pk)
    busy = threads(process.pid)
    listening = _listeners()
    for stream in streams:
        stream.close()
    # At most the event loop's default pool (min(32, cores + 4)) and asgiref's one
    # thread-sensitive thread more than before: nothing per stream.
    pool = min(32, (os.cpu_count() or 1) + 4)
    assert busy - idle <= pool + 1, (idle, busy)
    assert listening == (1 if process.fanout == "postgres" else 0)
    deadline = time.monotonic() + 10
    while _listeners() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _listeners() == 0  # the last stream gone, the listener closed
