"""The SDKs against a real uvicorn process and a real qcluster, on PostgreSQL.

The web process only enqueues; a separate worker transcribes with a slow fake engine,
so requests really wait and streams really receive deltas one chunk at a time.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from django.db import connection

from tests.fixtures.api import API, bearer_client
from tests.fixtures.audio import write_audio
from tests.fixtures.ports import free_port
from tests.fixtures.servers import server_env, start, stop, threads

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
LATENCY = 0.6  # seconds per chunk in the worker


@pytest.fixture(autouse=True)
def _needs_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the server and worker processes share the database: set DATABASE_URL")


def _env(media_root: Path, **extra: str) -> dict[str, str]:
    return server_env(media_root, TP_FAKE_LATENCY=str(LATENCY), **extra)


def _server(media_root: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port(range(18600, 18640))
    process = start(
        ["uvicorn", "tests.asgi:application", "--host", "127.0.0.1",
         "--port", str(port), "--no-access-log"],
        _env(media_root, **env),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process)
                pytest.fail("uvicorn did not start")
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        stop(process)


@pytest.fixture
def server(media_root):
    yield from _server(media_root)


@pytest.fixture
def worker(media_root):
    process = start(["django", "qcluster"], _env(media_root))
    yield process
    stop(process)


@pytest.fixture
def audio(tmp_path) -> Path:
    """10 s of tone with short pauses: several chunks of at most 2.5 s."""
    parts = [(2.2, 440), (0.3, None)] * 4
    return write_audio(tmp_path / "speech.wav", parts)


def _rest(user, path: str):
    response = bearer_client(user).get(f"{API}/transcriptions/{path}")
    assert response.status_code == 200, response.content
    return response


def test_async_client_stream_and_formats_with_a_real_worker(server, worker, api_key, audio, user):
    url, _process = server

    async def run():
        async with openai.AsyncOpenAI(
            base_url=f"{url}/v1", api_key=api_key, max_retries=0, timeout=120
        ) as client:
            stream = await client.audio.transcriptions.create(
                model="whisper-1", file=audio, stream=True
            )
            arrivals = []
            async for event in stream:
                arrivals.append((time.monotonic(), event))
            streamed_id = stream.response.headers["x-transcription-id"]
            formats = await asyncio.gather(
                *(
                    client.audio.transcriptions.with_raw_response.create(
                        model="whisper-1", file=audio, response_format=fmt
                    )
                    for fmt in ("srt", "vtt", "text", "verbose_json")
                )
            )
            return arrivals, streamed_id, formats

    arrivals, streamed_id, formats = asyncio.run(run())
    events = [event for _at, event in arrivals]
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    assert events[-1].type == "transcript.text.done"
    assert len(deltas) >= 3  # one per chunk (cut at quiet points)
    assert "".join(deltas) == events[-1].text
    # Deltas came as the worker finished chunks, not all at once at the end.
    assert arrivals[-1][0] - arrivals[0][0] >= 2 * LATENCY
    assert events[-1].text == _rest(user, streamed_id).json()["text"]

    for fmt, raw in zip(("srt", "vtt", "txt"), formats, strict=False):
        pk = raw.headers["x-transcription-id"]
        assert raw.parse() == _rest(user, f"{pk}/export?format={fmt}").content.decode()
    verbose = formats[3]
    detail = _rest(user, verbose.headers["x-transcription-id"]).json()
    assert verbose.parse().text == detail["text"]
    assert len(verbose.parse().segments) == len(detail["segments"])


@pytest.fixture
def short_wait_server(media_root):
    yield from _server(media_root, TP_WAIT_SECONDS="6")


async def _wait_past_the_limit(url: str, api_key: str, audio: Path, i: int):
    async with openai.AsyncOpenAI(
        base_url=f"{url}/v1", api_key=api_key, max_retries=0, timeout=60
    ) as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.audio.transcriptions.create(
                model="whisper-1", file=audio, extra_headers={"Idempotency-Key": f"k{i}"}
            )
    return caught.value


async def _threads_later(pid: int, delay: float) -> int:
    await asyncio.sleep(delay)
    return threads(pid)


def test_waiting_clients_wait_concurrently_and_get_a_408(short_wait_server, api_key, audio, user):
    """No worker: every request waits until OPENAI_COMPAT_WAIT_SECONDS, concurrently.

    Served by transcription_platform.asgi (the view is long_lived): no thread per
    waiting client, neither Django's per-request ThreadSensitiveContext nor the view's
    polls, which share the event loop's pool.
    """
    url, process = short_wait_server
    clients = 24
    idle_threads = threads(process.pid)

    async def run():
        return await asyncio.gather(
            _threads_later(process.pid, 4),  # every upload is in, every client waits
            *(_wait_past_the_limit(url, api_key, audio, i) for i in range(clients)),
        )

    started = time.monotonic()
    busy_threads, *errors = asyncio.run(run())
    elapsed = time.monotonic() - started
    assert all(e.status_code == 408 for e in errors)
    assert all(e.response.headers["x-should-retry"] == "true" for e in errors)  # keys sent
    ids = {e.response.json()["error"]["transcription_id"] for e in errors}
    assert len(ids) == clients
    for pk in ids:
        assert _rest(user, pk).json()["status"] == "pending"
    # Concurrent waits (not one after another); threads: at most the loop's shared pool
    # (min(32, cores + 4)) and asgiref's one thread-sensitive thread, whatever the number
    # of waiting clients.
    assert elapsed < 30
    pool = min(32, (os.cpu_count() or 1) + 4)
    assert busy_threads - idle_threads <= pool + 1, (idle_threads, busy_threads)
    assert busy_threads - idle_threads < clients
