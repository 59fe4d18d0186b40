"""2. API under load: list (a page of 20 out of 10,000 rows) and detail, versus the same
list and detail written with plain django-ninja and with a DRF ``ModelViewSet``
(``benchmarks/reference/``) and a bare Django ``JsonResponse`` view, all in the same
gunicorn server and the same run: the shipped configuration
(``example_project/gunicorn.conf.py``), as deployed.

``wrk`` drives 32 connections on 2 threads for a fixed time per target, in ROUNDS
rounds interleaved across the targets, after a short warm-up; every request carries
the same JWT. Each connection sends its next request as soon as the last is answered
(saturation: throughput, and a latency that Little's law ties to it). A second run
offers every target the same fixed rate, PACED_RATE requests/s over the same 32
connections (see `PACE_SCRIPT`): the latency a client sees below saturation. Answers
other than 2xx are counted and reported: a figure made of errors is not a figure. A
last run opens MANY_USERS connections at once, each a user pausing between requests
(see `THINK_SCRIPT`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks import harness

ROWS = 10_000
CONNECTIONS = 32
THREADS = 2
ROUNDS = 5
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def seed(rows: int = ROWS) -> tuple[Any, str]:
    """``rows`` completed transcriptions for one user; returns (user, one row's id)."""
    from datetime import timedelta

    from django.utils import timezone

    from transcription_platform.transcriptions.models import Transcription, TranscriptionStatus

    user = harness.bench_user("api-reader")
    sentences = [s.strip() + "." for s in harness.SAMPLE_TEXT.split(".") if s.strip()]
    segments, clock = [], 0.0
    for index, sentence in enumerate(sentences):
        words = []
        for word in sentence.split():
            words.append({"start": clock, "end": clock + 0.4, "text": word, "probability": 0.9})
            clock += 0.45
        segments.append(
            {"id": index, "start": words[0]["start"], "end": words[-1]["end"], "text": sentence}
            | {"words": words}
        )
        clock += 0.8
    now = timezone.now()
    Transcription.objects.bulk_create(
        (
            Transcription(
                owner=user,
                title=f"Meeting {i}",
                original_filename=f"meeting-{i}.ogg",
                audio=f"transcriptions/bench/meeting-{i}.ogg",
                size_bytes=600_000,
                content_type="audio/ogg",
                audio_info={"codec": "vorbis", "sample_rate": 44100, "channels": 1},
                duration=36.2,
                language="en",
                detected_language="en",
                engine="default",
                model="whisper-tiny.en",
                status=TranscriptionStatus.COMPLETED,
                progress=100,
                text=harness.SAMPLE_TEXT,
                segments=segments,
                usage={"audio_seconds": 36.2},
                created_at=now - timedelta(minutes=i),
                started_at=now - timedelta(minutes=i),
                completed_at=now - timedelta(minutes=i),
            )
            for i in range(rows)
        ),
        batch_size=1000,
    )
    from django.db import connection

    with connection.cursor() as cursor:
        # A table in steady state, as autovacuum keeps it: fresh statistics and a visibility
        # map, without which COUNT(*) cannot use an index-only scan (4.3 ms vs 1.0 ms).
        cursor.execute("VACUUM ANALYZE")
    middle = Transcription.objects.filter(owner=user).order_by("created_at")[rows // 2]
    return user, str(middle.pk)


def parse_wrk(output: str) -> dict[str, Any]:
    """Requests/s, p50/p99 (ms), request and error counts from ``wrk --latency``."""

    def latency(percentile: str) -> float:
        match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        if match is None:
            raise harness.BenchmarkError(f"No {percentile}% latency in wrk output:\n{output}")
        return round(float(match[1]) * UNITS[match[2]], 2)

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    if rps is None or total is None:
        raise harness.BenchmarkError(f"Unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors:.*", output)
    return {
        "requests_per_second": round(float(rps[1]), 1),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "requests": int(total[1]),
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "socket_errors": socket_errors[0] if socket_errors else "",
    }


def wrk(
    url: str,
    token: str,
    seconds: float,
    connections: int = CONNECTIONS,
    script: str | None = None,
) -> dict[str, Any]:
    binary = shutil.which("wrk")
    if binary is None:
        raise harness.BenchmarkError("wrk is not installed (apt-get install -y wrk).")
    args = [
        binary,
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
    ]
    if script:
        args += ["-s", script]
    completed = subprocess.run(
        [*args, url], capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if completed.returncode != 0:
        raise harness.BenchmarkError(f"wrk failed: {completed.stderr.strip()}")
    result = parse_wrk(completed.stdout)
    if result["non_2xx"]:
        raise harness.BenchmarkError(
            f"{url} answered {result['non_2xx']} of {result['requests']} requests with an "
            "error status; the figures would measure errors."
        )
    return result


def combined(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One figure from interleaved rounds: total requests over total time, the median
    round's p50, the worst round's p99."""
    seconds = sum(r["requests"] / r["requests_per_second"] for r in rounds)
    p50s = sorted(r["p50_ms"] for r in rounds)
    return {
        "requests_per_second": round(sum(r["requests"] for r in rounds) / seconds, 1),
        "p50_ms": p50s[len(p50s) // 2],
        "p99_ms": max(r["p99_ms"] for r in rounds),
        "requests": sum(r["requests"] for r in rounds),
        "non_2xx": sum(r["non_2xx"] for r in rounds),
        "socket_errors": "; ".join(r["socket_errors"] for r in rounds if r["socket_errors"]),
        "rounds": len(rounds),
    }


#: wrk script of the many-users run: each connection is a user who waits a random
#: THINK_MS between its requests (wrk's ``delay``), so the offered load is
#: MANY_USERS / mean think time, not "as fast as the server answers" (with which
#: latency is only connections / throughput, Little's law, whatever the server).
THINK_SCRIPT = """
math.randomseed(os.time())
function delay()
  return math.random({low}, {high})
end
"""
MANY_USERS = 1000
THINK_MS = (2000, 6000)


def many_users(url: str, token: str, seconds: float, workdir: Path) -> dict[str, Any]:
    """MANY_USERS connections at once, each a user with a think time; bounded in time."""
    script = workdir / "think.lua"
    script.write_text(THINK_SCRIPT.format(low=THINK_MS[0], high=THINK_MS[1]))
    result = wrk(url, token, seconds, connections=MANY_USERS, script=str(script))
    result["users"] = MANY_USERS
    result["think_ms"] = list(THINK_MS)
    return result


#: Offered rate of the paced run, requests/s over all CONNECTIONS: the same for every
#: target, and below what the plain ninja reference serves at saturation (154 list and
#: 200 detail requests/s in the last quiet run), so that a target's latency is its own
#: work, not the length of its queue. DRF, slower on some machines, is then reported as
#: saturated (`SUSTAINED_SHARE`) rather than offered less.
PACED_RATE = 100
#: A paced target that served less than this share of PACED_RATE was saturated: its
#: latency is a queue's again, and the report says so.
SUSTAINED_SHARE = 0.95
#: wrk script of the paced run. wrk 4 (Debian's) has no ``-R``; ``delay()`` is called
#: before each request a connection sends, so it can hold a request until its slot of
#: a fixed schedule: each wrk thread sends its n-th request at start + n x INTERVAL_MS
#: (wrk's THREADS share PACED_RATE), on whichever connection is free. The schedule
#: does not wait for answers (a slow answer does not lower the offered rate, as a
#: think time after each answer would), and wrk still times each request from its
#: send to its answer. LuaJIT's FFI reads the monotonic clock (Lua's own ``os.time``
#: counts whole seconds).
PACE_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[
struct tp_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clk_id, struct tp_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local now = ffi.new("struct tp_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now)
  return tonumber(now.tv_sec) * 1000 + tonumber(now.tv_nsec) / 1e6
end
local interval, start, sent = INTERVAL_MS, nil, 0
function delay()
  local t = now_ms()
  start = start or t
  local slot = start + sent * interval
  sent = sent + 1
  return math.max(0, slot - t)
end
"""


def pace_script(rate: float = PACED_RATE) -> str:
    """`PACE_SCRIPT` for ``rate`` requests/s in all (each of wrk's THREADS sends its share)."""
    return PACE_SCRIPT.replace("INTERVAL_MS", f"{THREADS * 1000 / rate:.3f}")


def paced(
    targets: dict[str, str], token: str, seconds: float, workdir: Path, rate: float = PACED_RATE
) -> dict[str, Any]:
    """Each target at the same offered ``rate`` over CONNECTIONS connections, one after
    the other (each run long enough for its p99 to be more than a handful of requests).
    """
    script = workdir / "paced.lua"
    script.write_text(pace_script(rate))
    results: dict[str, Any] = {}
    for name, url in targets.items():
        result = wrk(url, token, seconds, script=str(script))
        result["sustained"] = result["requests_per_second"] >= SUSTAINED_SHARE * rate
        results[name] = result
    for name in ("list", "detail"):
        for reference in ("ninja", "drf"):
            other = results.get(f"{reference}_{name}")
            if name in results and other:
                results[name][f"p99_ratio_to_{reference}"] = round(
                    results[name]["p99_ms"] / other["p99_ms"], 3
                )
    return {
        "offered_per_second": rate,
        "connections": CONNECTIONS,
        "seconds": round(seconds),
        **results,
    }


#: Seconds the server keeps an idle connection: longer than the longest think time.
#: A browser reopens a kept-alive connection the server closed without a word; wrk
#: counts it as a read error.
KEEPALIVE_SECONDS = 10


def run(workdir: Path, seconds: float = 30, warmup_seconds: float = 2) -> dict[str, Any]:
    """Seed, serve with the shipped gunicorn config, measure every target."""
    from benchmarks import bench_load

    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    extra = ["--keep-alive", str(KEEPALIVE_SECONDS)]
    with bench_load.server(port, workdir / "gunicorn-api.log", extra) as web:
        bench_load.wait_until_serving(web, base_url)
        results = _measure(base_url, workdir, seconds, warmup_seconds)
        web.check_alive()
    return results


def _measure(base_url: str, workdir: Path, seconds: float, warmup_seconds: float) -> dict[str, Any]:
    from benchmarks import bench_load

    user, detail_id = seed()
    token = harness.access_token(user)
    status, page = harness.call_api(base_url, "GET", f"{harness.API}/transcriptions/", token=token)
    if status != 200 or page["count"] != ROWS or len(page["results"]) != 20:
        raise harness.BenchmarkError(f"The list endpoint is not serving the seeded rows: {page}")
    for prefix, count_key, items_key in (
        ("/bench/ninja", "count", "items"),
        ("/bench/drf", "count", "results"),
    ):
        status, page = harness.call_api(base_url, "GET", f"{prefix}/transcriptions/", token=token)
        if status != 200 or page[count_key] != ROWS or len(page[items_key]) != 20:
            raise harness.BenchmarkError(f"The reference {prefix} is not serving the rows: {page}")
    api = f"{base_url}{harness.API}"
    targets = {
        "bare": f"{base_url}/bench/bare/",
        "list": f"{api}/transcriptions/",
        "detail": f"{api}/transcriptions/{detail_id}",
        "ninja_list": f"{base_url}/bench/ninja/transcriptions/",
        "ninja_detail": f"{base_url}/bench/ninja/transcriptions/{detail_id}",
        "drf_list": f"{base_url}/bench/drf/transcriptions/",
        "drf_detail": f"{base_url}/bench/drf/transcriptions/{detail_id}/",
    }
    for url in targets.values():
        wrk(url, token, warmup_seconds)
    # Interleaved rounds: on a shared machine the load drifts in seconds, and a target
    # measured alone in its own 10 s would take the drift for its own speed.
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for _ in range(ROUNDS):
        for name, url in targets.items():
            rounds[name].append(wrk(url, token, seconds / ROUNDS))
    results: dict[str, Any] = {name: combined(measured) for name, measured in rounds.items()}
    bare_rps = results["bare"]["requests_per_second"]
    for name in ("list", "detail"):
        ours = results[name]["requests_per_second"]
        results[name]["ratio_to_bare"] = round(ours / bare_rps, 3)
        results[name]["ratio_to_ninja"] = round(
            ours / results[f"ninja_{name}"]["requests_per_second"], 3
        )
        results[name]["ratio_to_drf"] = round(
            ours / results[f"drf_{name}"]["requests_per_second"], 3
        )
    results["paced"] = paced(targets, token, seconds, workdir)
    results["many_users"] = many_users(f"{api}/transcriptions/", token, seconds * 2, workdir)
    return {
        "rows": ROWS,
        "page_size": 20,
        "server": f"{bench_load.server_description()}, keep-alive {KEEPALIVE_SECONDS} s",
        "load": (
            f"wrk -t{THREADS} -c{CONNECTIONS} --latency, {ROUNDS} interleaved rounds of "
            f"{seconds / ROUNDS:.0f}s per target; then {PACED_RATE} requests/s offered "
            f"per target for {seconds:.0f}s (paced)"
        ),
        "auth": "JWT bearer",
        "references": "benchmarks/reference/: plain django-ninja and a DRF ModelViewSet",
        **results,
    }
