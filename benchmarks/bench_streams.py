"""5. Idle Server-Sent Events streams: what 200 of them cost one server process.

One uvicorn process (one event loop) on PostgreSQL, ``STREAMS`` clients each holding
``GET /events`` open for ``HOLD_SECONDS`` (keep-alive comments only), then one job event
that every stream must receive. Measured on the server process: threads, resident
memory and PostgreSQL connections before and with the streams open, and how long the
event took to reach all of them. The reference is the same run under Django's stock
ASGI handler, which keeps a thread per open request.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks import harness

STREAMS = 200
HOLD_SECONDS = 20
APPS = {
    "platform": "benchmarks.asgi:application",
    "django": "benchmarks.asgi:django_application",
}


def _database_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


def _snapshot(pid: int) -> dict[str, float]:
    return {
        "threads": harness.status_kib(pid, "Threads") or 0,
        "rss_mib": round((harness.status_kib(pid, "VmRSS") or 0) / 1024, 1),
        "database_connections": _database_connections(),
    }


def _job_event(user: Any) -> None:
    """A job starts: one ``status`` event for ``user``'s streams (the real path:
    lifecycle service → signal → event log → NOTIFY)."""
    from transcription_platform.transcriptions import services
    from transcription_platform.transcriptions.models import Transcription

    job = Transcription.objects.create(owner=user, original_filename="bench.wav", size_bytes=0)
    services.start_processing(job.pk)


async def _hold(
    url: str, token: str, user: Any, pid: int, streams: int, hold: float
) -> dict[str, Any]:
    opened: list[float] = []
    arrived: list[float] = []
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=0)
    headers = {"Authorization": f"Bearer {token}"}

    async def follow(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", f"{url}/rest/api/v1/events", headers=headers) as response:
            if response.status_code != 200:
                raise harness.BenchmarkError(f"GET /events answered {response.status_code}")
            lines = response.aiter_lines()
            async for line in lines:
                if line.startswith("retry:"):
                    opened.append(time.monotonic())
                    break
            async for line in lines:
                if line.startswith("event: status"):
                    arrived.append(time.monotonic())
                    return

    timeout = httpx.Timeout(hold + 120)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        start = time.monotonic()
        tasks = [asyncio.create_task(follow(client)) for _ in range(streams)]
        try:
            return await _wait(tasks, opened, arrived, start, pid, user, hold)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _wait(
    tasks: list[asyncio.Task[None]],
    opened: list[float],
    arrived: list[float],
    start: float,
    pid: int,
    user: Any,
    hold: float,
) -> dict[str, Any]:
    """Wait for every stream to open, hold them idle, send one event, time its arrival."""
    streams = len(tasks)
    while len(opened) < streams:
        if time.monotonic() - start > 120:
            raise harness.BenchmarkError(f"only {len(opened)} of {streams} streams opened")
        for task in tasks:
            if task.done() and task.exception():
                raise harness.BenchmarkError(f"a stream failed: {task.exception()!r}")
        await asyncio.sleep(0.1)
    open_seconds = max(opened) - start
    await asyncio.sleep(hold)
    busy = await asyncio.to_thread(_snapshot, pid)
    sent = time.monotonic()
    await asyncio.to_thread(_job_event, user)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    delays = sorted(at - sent for at in arrived)
    return {
        "open_seconds": round(open_seconds, 2),
        "busy": busy,
        "event_to_all_streams_ms": round(delays[-1] * 1000, 1),
        "event_p50_ms": round(delays[len(delays) // 2] * 1000, 1),
    }


def _measure(app: str, log: Path, token: str, user: Any, streams: int, hold: float) -> dict:
    port = harness.free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--no-access-log", "--log-level", "warning"]
    with harness.ProcessGroup(argv, harness.child_env(), log) as server:

        def up() -> bool:
            server.check_alive()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return True

        harness.wait_for(up, 60, "uvicorn to listen")
        url = f"http://127.0.0.1:{port}"
        # One short request first: Django and the API are loaded before "idle" is read.
        harness.call_api(url, "POST", "/rest/api/v1/events/token", token=token)
        idle = _snapshot(server.pid)
        held = asyncio.run(_hold(url, token, user, server.pid, streams, hold))
    busy = held.pop("busy")
    return {
        "idle": idle,
        "with_streams": busy,
        "threads_added": busy["threads"] - idle["threads"],
        "rss_added_mib": round(busy["rss_mib"] - idle["rss_mib"], 1),
        "rss_per_stream_kib": round((busy["rss_mib"] - idle["rss_mib"]) * 1024 / streams, 1),
        "database_connections_added": busy["database_connections"] - idle["database_connections"],
        **held,
    }


def run(workdir: Path, streams: int = STREAMS, hold: float = HOLD_SECONDS) -> dict[str, Any]:
    user = harness.bench_user("streams")
    token = harness.access_token(user)
    results = {
        name: _measure(app, workdir / f"uvicorn-{name}.log", token, user, streams, hold)
        for name, app in APPS.items()
    }
    platform, django = results["platform"], results["django"]
    return {
        "streams": streams,
        "hold_seconds": hold,
        **results,
        "ratio_threads_added": round(
            max(platform["threads_added"], 1) / max(django["threads_added"], 1), 3
        ),
        "ratio_rss_added": round(
            max(platform["rss_added_mib"], 0.1) / max(django["rss_added_mib"], 0.1), 3
        ),
    }
