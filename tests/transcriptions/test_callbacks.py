"""Inbound callbacks: the FakeEngine in async mode, a test playing its provider.

The provider's result API is a real HTTP server on 127.0.0.1 that the fake's
``fetch_result`` reads, so "the provider answered 500" is a real upstream failure.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import OperationalError, connection, connections
from django.test import Client, override_settings
from django.utils import timezone

from tests.fixtures.api import API, assert_error
from tests.fixtures.audio import write_audio
from tests.fixtures.ports import PROVIDER_PORTS, free_port
from tests.fixtures.uploads import upload
from transcription_platform import signals
from transcription_platform.engines import get_engine
from transcription_platform.engines.fake import FakeEngine
from transcription_platform.notifications.models import StreamEvent
from transcription_platform.transcriptions import services, tasks
from transcription_platform.transcriptions.error_codes import TranscriptionErrorCode
from transcription_platform.transcriptions.models import (
    ChunkStatus,
    Transcription,
    TranscriptionChunk,
    TranscriptionStatus,
)

pytestmark = pytest.mark.django_db

FAKE = "transcription_platform.engines.fake.FakeEngine"
TOKEN = "cb-token-7f3a9c1e5b"
CALLBACKS = f"{API}/callbacks"


class Provider:
    """The fake engine's provider: serves ``GET /results/<remote id>`` as scripted."""

    def __init__(self) -> None:
        #: remote id → (status, JSON body); unknown ids get 404.
        self.answers: dict[str, tuple[int, Any]] = {}
        self.requests: list[str] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests.append(self.path)
                remote_id = self.path.rsplit("/", 1)[-1]
                status, body = provider.answers.get(remote_id, (404, {"error": "no such job"}))
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port(PROVIDER_PORTS)), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/results/{{remote_id}}"

    def serve(self, remote_id: str, engine: FakeEngine, status: int = 200) -> None:
        """Answer for ``remote_id`` with the transcript the fake computed on submit."""
        self.answers[remote_id] = (status, engine.remote_results[remote_id].to_dict())


@pytest.fixture
def provider() -> Iterator[Provider]:
    provider = Provider()
    thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        provider.server.shutdown()
        provider.server.server_close()
        thread.join(5)


def platform(provider: Provider, **extra: Any) -> dict[str, Any]:
    options = {"async_mode": True, "callback_token": TOKEN, "result_url": provider.url}
    return {
        "ENGINES": {
            "default": {"BACKEND": FAKE, "OPTIONS": options},
            "sync": {"BACKEND": FAKE, "OPTIONS": {}},
        },
        "TASK_RETRY_BACKOFF_SECONDS": 0,
        **extra,
    }


@pytest.fixture
def async_engine(provider: Provider) -> Iterator[None]:
    with override_settings(TRANSCRIPTION_PLATFORM=platform(provider)):
        yield


@pytest.fixture
def completed_signals() -> Iterator[Counter]:
    counts: Counter = Counter()

    def receiver(sender: Any, transcription: Any, **kwargs: Any) -> None:
        counts[str(transcription.pk)] += 1

    signals.transcription_completed.connect(receiver, weak=False)
    yield counts
    signals.transcription_completed.disconnect(receiver)


def submitted(auth_client, path, captured) -> Transcription:
    with captured(execute=True):
        response = upload(auth_client, path)
    assert response.status_code == 201, response.content
    return Transcription.objects.get(pk=response.json()["id"])


def call_back(payload: Any, *, token: str | None = TOKEN, engine: str = "default") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = payload if isinstance(payload, bytes) else json.dumps(payload)
    return Client().post(
        f"{CALLBACKS}/{engine}/", body, content_type="application/json", headers=headers
    )


def remote_ids(transcription: Transcription) -> list[str]:
    return list(
        TranscriptionChunk.objects.filter(transcription=transcription)
        .order_by("index")
        .values_list("remote_id", flat=True)
    )


@pytest.fixture
def waiting(async_engine, auth_client, tone_wav, django_capture_on_commit_callbacks):
    """A job submitted to the async fake: processing, its one chunk waiting on a remote id."""
    transcription = submitted(auth_client, tone_wav, django_capture_on_commit_callbacks)
    return transcription


def test_submit_leaves_the_job_waiting_for_the_callback(waiting):
    waiting.refresh_from_db()
    assert waiting.status == TranscriptionStatus.PROCESSING
    (remote_id,) = remote_ids(waiting)
    assert remote_id.startswith("fake-")
    chunk = TranscriptionChunk.objects.get(transcription=waiting)
    assert chunk.status == ChunkStatus.RUNNING
    assert chunk.result is None


def test_callback_completes_the_job_and_fires_the_events(
    waiting, provider, completed_signals, django_capture_on_commit_callbacks
):
    engine = get_engine("default")
    assert isinstance(engine, FakeEngine)
    (remote_id,) = remote_ids(waiting)
    provider.serve(remote_id, engine)
    with django_capture_on_commit_callbacks(execute=True):
        response = call_back({"id": remote_id, "status": "completed"})
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "completed"}
    waiting.refresh_from_db()
    assert waiting.status == TranscriptionStatus.COMPLETED
    assert waiting.progress == 100
    assert waiting.text == engine.remote_results[remote_id].text
    assert waiting.text  # the tone gives words
    assert provider.requests == [f"/results/{remote_id}"]
    assert completed_signals[str(waiting.pk)] == 1
    # The notifications app heard it as any completion: an SSE event for the owner.
    types = list(
        StreamEvent.objects.filter(transcription_id=waiting.pk).values_list("event_type", flat=True)
    )
    assert "completed" in types


def test_a_duplicate_callback_is_a_no_op(
    waiting, provider, completed_signals, django_capture_on_commit_callbacks
):
    (remote_id,) = remote_ids(waiting)
    provider.serve(remote_id, get_engine("default"))
    with django_capture_on_commit_callbacks(execute=True):
        assert call_back({"id": remote_id, "status": "completed"}).json()["status"] == "completed"
    waiting.refresh_from_db()
    before = (waiting.text, waiting.completed_at, waiting.updated_at)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = call_back({"id": remote_id, "status": "completed"})
    assert response.status_code == 200
    assert response.json() == {"status": "duplicate"}
    assert callbacks == []
    waiting.refresh_from_db()
    assert (waiting.text, waiting.completed_at, waiting.updated_at) == before
    assert completed_signals[str(waiting.pk)] == 1
    assert len(provider.requests) == 1  # nothing fetched again


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "longer", "basic", "no-scheme", "empty"],
)
def test_missing_or_wrong_token_is_401(waiting, provider, headers):
    (remote_id,) = remote_ids(waiting)
    provider.serve(remote_id, get_engine("default"))
    response = Client().post(
        f"{CALLBACKS}/default/",
        json.dumps({"id": remote_id, "status": "completed"}),
        content_type="application/json",
        headers=headers,
    )
    assert_error(response, 401, TranscriptionErrorCode.CALLBACK_UNAUTHORIZED)
    assert TOKEN not in response.content.decode()
    waiting.refresh_from_db()
    assert waiting.status == TranscriptionStatus.PROCESSING
    assert provider.requests == []


def test_the_token_is_compared_in_constant_time(waiting, provider, monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    (remote_id,) = remote_ids(waiting)
    assert call_back({"id": remote_id, "status": "bogus"}, token="nope").status_code == 401
    assert compared == [(b"nope", TOKEN.encode())]


def test_wrong_tokens_count_against_auth_failure_and_then_even_the_right_one_waits(
    waiting, provider
):
    (remote_id,) = remote_ids(waiting)
    provider.serve(remote_id, get_engine("default"))
    payload = {"id": remote_id, "status": "completed"}
    limits = {"auth_failure": "2/10m", "transcription_create": None, "user": None}
    with override_settings(TRANSCRIPTION_PLATFORM=platform(provider, RATE_LIMITS=limits)):
        statuses = [call_back(payload, token="guess").status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        assert_error(call_back(payload), 429, "rate_limited")
    waiting.refresh_from_db()
    assert waiting.status == TranscriptionStatus.PROCESSING
    assert provider.requests == []  # refused before the provider was asked


def test_an_engine_without_a_token_refuses_every_callback(provider):
    options = {"async_mode": True, "result_url": provider.url}
    with override_settings(
        TRANSCRIPTION_PLATFORM={"ENGINES": {"default": {"BACKEND": FAKE, "OPTIONS": options}}}
    ):
        response = call_back({"id": "fake-x", "status": "completed"}, token="")
        assert_error(response, 401, TranscriptionErrorCode.CALLBACK_UNAUTHORIZED)


def test_the_token_is_never_logged(waiting, provider, caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    (remote_id,) = remote_ids(waiting)
    provider.answers[remote_id] = (500, {"error": "boom"})
    call_back({"id": remote_id, "status": "completed"}, token="wrong")
    call_back({"id": remote_id, "status": "completed"})
    provider.serve(remote_id, get_engine("default"))
    with django_capture_on_commit_callbacks(execute=True):
        call_back({"id": remote_id, "status": "completed"})
    assert caplog.records
    assert all(TOKEN not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b"not json", {"body"}),
        ({"status": "completed"}, {"id"}),
        ({"id": 5, "status": "done"}, {"id", "status"}),
        ({"id": "fake-1", "status": "failed", "error": 3}, {"error"}),
        ([1, 2], set()),
    ],
    ids=["not-json", "no-id", "bad-id-and-status", "bad-error", "not-object"],
)
def test_a_bad_payload_is_400_with_details(waiting, body, fields):
    response = call_back(body)
    error = assert_error(response, 400, TranscriptionErrorCode.INVALID_CALLBACK)
    assert set(error["details"]) == fields
    waiting.refresh_from_db()
    assert waiting.status == TranscriptionStatus.PROCESSING


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "fake-\u0000", "status": "completed"}, "id"),
        ({"id": "fake-1", "status": "failed", "error": ["ok", "a\u0000b"]}, "error.1"),
        ({"id": "fake-1", "status": "completed", "x\u0000": 1}, "x\\x00"),
    ],
    ids=["value", "nested", "key"],
)
def test_a_nul_in_the_callback_body_is_400_like_every_body(waiting, body, field):
    response = call_back(body)
    error = assert_error(response, 400, "validation_error")
    assert error["details"] == [
        {"field": field, "source": "body", "message": "NUL characters are not allowed."}
    ]
    waiting.refresh_from_db()
    assert waiting.status == TranscriptionStatus.PROCESSING


def test_an_unknown_remote_id_is_404(waiting):
    response = call_back({"id": "fake-nobody", "status": "completed"})
    error = assert_error(response, 404, TranscriptionErrorCode.UNKNOWN_REMOTE_JOB)
    assert error["details"] == {"id": "fake-nobody"}


@pytest.mark.parametrize("engine", ["nope", "sync"], ids=["unknown-alias", "no-callbacks"])
def test_an_engine_that_takes_no_callbacks_is_404(waiting, engine):
    (remote_id,) = remote_ids(waiting)
    response = call_back({"id": remote_id, "status": "completed"}, engine=engine)
    assert_error(response, 404, TranscriptionErrorCode.UNKNOWN_ENGINE)


def test_an_upstream_failure_is_502_and_the_provider_may_call_again(
    waiting, provider, completed_signals, django_capture_on_commit_callbacks
):
    (remote_id,) = remote_ids(waiting)
    provider.answers[remote_id] = (500, {"error": "provider down"})
    response = call_back({"id": remote_id, "status": "completed"})
    error = assert_error(response, 502, TranscriptionErrorCode.CALLBACK_UPSTREAM_FAILED)
    assert error["details"]["upstream_status"] == 500
    waiting.refresh_from_db()
    assert waiting.status == TranscriptionStatus.PROCESSING
    assert TranscriptionChunk.objects.get(transcription=waiting).status == ChunkStatus.RUNNING
    # The provider recovers and calls back again: the job completes.
    provider.serve(remote_id, get_engine("default"))
    with django_capture_on_commit_callbacks(execute=True):
        assert call_back({"id": remote_id, "status": "completed"}).status_code == 200
    waiting.refresh_from_db()
    assert waiting.status == TranscriptionStatus.COMPLETED
    assert completed_signals[str(waiting.pk)] == 1


def test_a_failed_callback_fails_the_job(waiting, django_capture_on_commit_callbacks):
    (remote_id,) = remote_ids(waiting)
    with django_capture_on_commit_callbacks(execute=True):
        response = call_back({"id": remote_id, "status": "failed", "error": "Audio unreadable."})
    assert response.json() == {"status": "failed"}
    waiting.refresh_from_db()
    assert waiting.status == TranscriptionStatus.FAILED
    assert (waiting.error_code, waiting.error_message) == ("engine_rejected", "Audio unreadable.")
    assert call_back({"id": remote_id, "status": "completed"}).json() == {"status": "duplicate"}


def test_a_chunked_job_completes_with_its_last_callback(
    auth_client, tmp_path, provider, settings, django_capture_on_commit_callbacks
):
    settings.TRANSCRIPTION_PLATFORM = platform(provider, CHUNK_SECONDS=5)
    path = write_audio(
        tmp_path / "parts.wav", [(4.0, 440), (0.6, None), (4.0, 550), (0.6, None), (4.0, 660)]
    )
    transcription = submitted(auth_client, path, django_capture_on_commit_callbacks)
    ids = remote_ids(transcription)
    assert len(set(ids)) == 3
    assert all(ids)
    engine = get_engine("default")
    for remote_id in ids:
        provider.serve(remote_id, engine)
    # Out of order, as a provider may finish them.
    for remote_id in (ids[2], ids[0]):
        with django_capture_on_commit_callbacks(execute=True):
            assert call_back({"id": remote_id, "status": "completed"}).status_code == 200
        transcription.refresh_from_db()
        assert transcription.status == TranscriptionStatus.PROCESSING
    assert transcription.progress > 5
    with django_capture_on_commit_callbacks(execute=True):
        assert call_back({"id": ids[1], "status": "completed"}).status_code == 200
    transcription.refresh_from_db()
    assert transcription.status == TranscriptionStatus.COMPLETED
    starts = [segment["start"] for segment in transcription.segments]
    assert starts == sorted(starts)  # stitched in audio order
    assert starts[-1] > 8.0


def test_lease_recovery_leaves_a_chunk_waiting_on_its_callback(
    waiting, provider, django_capture_on_commit_callbacks
):
    long_ago = timezone.now() - timedelta(days=1)
    TranscriptionChunk.objects.filter(transcription=waiting).update(
        claimed_at=long_ago, heartbeat_at=long_ago
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.recover_stuck_transcriptions()
    chunk = TranscriptionChunk.objects.get(transcription=waiting)
    assert chunk.status == ChunkStatus.RUNNING
    (remote_id,) = remote_ids(waiting)
    assert chunk.remote_id == remote_id
    provider.serve(remote_id, get_engine("default"))
    with django_capture_on_commit_callbacks(execute=True):
        assert call_back({"id": remote_id, "status": "completed"}).json() == {"status": "completed"}
    waiting.refresh_from_db()
    assert waiting.status == TranscriptionStatus.COMPLETED


RACERS = 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_identical_callbacks_store_the_result_once(
    async_engine, auth_client, tone_wav, provider, completed_signals
):
    """Real threads on their own connections (PostgreSQL in CI): one stores, the rest
    are no-ops, and the job completes once."""
    response = upload(auth_client, tone_wav)
    assert response.status_code == 201, response.content
    transcription = Transcription.objects.get(pk=response.json()["id"])
    (remote_id,) = remote_ids(transcription)
    provider.serve(remote_id, get_engine("default"))
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def race() -> None:
        try:
            barrier.wait()
            for attempt in range(50):
                try:
                    outcomes.append(
                        services.handle_engine_callback(
                            "default", f"Bearer {TOKEN}", {"id": remote_id, "status": "completed"}
                        )
                    )
                    return
                except OperationalError:
                    # SQLite only: its in-memory test database answers "table is locked"
                    # instead of waiting.
                    if connection.vendor != "sqlite" or attempt == 49:
                        raise
                    threading.Event().wait(0.02)
        except BaseException as exc:  # reported below: the test must see every outcome
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(outcomes) == ["completed"] + ["duplicate"] * (RACERS - 1)
    transcription.refresh_from_db()
    assert transcription.status == TranscriptionStatus.COMPLETED
    assert completed_signals[str(transcription.pk)] == 1
