"""CPU per API request, measured in-process: a figure that a loaded machine does not move.

wrk figures on a shared 2-core machine measure the machine as much as the code. This
tool calls the benchmark's WSGI application directly (no server, no socket), ``N``
times per target after a warm-up, and reports per request:

* the CPU time of this process (``time.process_time``: Django, ninja, the platform);
* the CPU time of its PostgreSQL backend (``/proc/<backend pid>/stat``, same host);
* the number of SQL queries and of cache (Redis) round trips.

Same data as bench ``api`` (10,000 rows of one user, ``VACUUM ANALYZE``), same settings
(``benchmarks/settings.py``), same JWT. Run it alone::

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/tp_cpu \\
        python -m benchmarks.cpu_api --requests 500 [--profile list]

``--profile NAME`` writes a pyinstrument profile of that target (if installed).
Instruction counts (deterministic, whatever the load)::

    BENCH_CONN_MAX_AGE=3600 valgrind --tool=callgrind --instr-atstart=no \\
        --callgrind-out-file=/tmp/cg.out \\
        python -m benchmarks.cpu_api --requests 50 --callgrind /tmp/cg.out
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import harness

TICKS = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # the backend was replaced (CONN_MAX_AGE passed)
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _environ(path: str, query: str, token: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_ACCEPT": "*/*",
        "HTTP_USER_AGENT": "wrk",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


class _Counter:
    """Counts SQL queries (execute wrapper) and Redis commands (connection wrapper)."""

    def __init__(self) -> None:
        self.queries = 0
        self.redis = 0

    def sql(self, execute: Callable[..., Any], *args: Any) -> Any:
        self.queries += 1
        return execute(*args)


def _patch_redis(counter: _Counter) -> Callable[[], None]:
    """Count the commands sent to Redis (a pipeline counts once); returns the undo."""
    import redis.connection

    cls = redis.connection.AbstractConnection
    send = cls.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        counter.redis += 1
        send(self, command, check_health)

    cls.send_packed_command = counted  # type: ignore[method-assign]

    def undo() -> None:
        cls.send_packed_command = send  # type: ignore[method-assign]

    return undo


class Callgrind:
    """Instruction counts of this process, when it runs under ``valgrind --tool=callgrind
    --instr-atstart=no``: instrumentation is switched on around the measured calls only
    (``callgrind_control``), and the count read back from the dump. Unlike CPU time,
    the count does not move with the machine's load."""

    def __init__(self, outfile: str) -> None:
        self.outfile = outfile
        self.dumps = 0

    def _control(self, *args: str) -> None:
        subprocess.run(
            ["callgrind_control", *args, str(os.getpid())],
            capture_output=True,
            check=True,
            timeout=60,
        )

    def start(self) -> None:
        self._control("--zero")
        self._control("--instr=on")

    def stop(self) -> int:
        """Instructions since `start`."""
        self._control("--instr=off")
        self.dumps += 1
        self._control(f"--dump=cpu_api-{self.dumps}")
        dump = Path(f"{self.outfile}.{self.dumps}")
        harness.wait_for(dump.is_file, 30, f"callgrind dump {dump}")
        for line in dump.read_text(errors="replace").splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
        raise harness.BenchmarkError(f"No totals in {dump}")


def measure(
    app: Callable[..., Any],
    environ: dict[str, Any],
    requests: int,
    warmup: int = 50,
    callgrind: Callgrind | None = None,
) -> dict[str, Any]:
    """Call ``app`` ``requests`` times; CPU (ms) of this process and of PostgreSQL, and
    with ``callgrind`` the instructions of this process per request."""
    from django.db import connection

    def call() -> bytes:
        status: list[str] = []
        body = b"".join(app(dict(environ), lambda s, h, e=None: status.append(s)))
        if not status[0].startswith("200"):
            raise harness.BenchmarkError(f"{environ['PATH_INFO']} answered {status[0]}: {body!r}")
        return body

    for _ in range(warmup):
        body = call()
    # A full collection now, not in the middle of one target's count.
    gc.collect()
    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    counter = _Counter()
    undo = _patch_redis(counter)
    start_cpu, start_pg, start_wall = time.process_time(), _proc_cpu(backend), time.perf_counter()
    with connection.execute_wrapper(counter.sql):
        if callgrind is not None:
            callgrind.start()
        for _ in range(requests):
            call()
        instructions = callgrind.stop() if callgrind is not None else 0
    cpu = time.process_time() - start_cpu
    pg = _proc_cpu(backend) - start_pg
    wall = time.perf_counter() - start_wall
    undo()
    return {
        "python_cpu_ms": round(cpu / requests * 1e3, 3),
        "postgres_cpu_ms": round(pg / requests * 1e3, 3),
        "wall_ms": round(wall / requests * 1e3, 3),
        "queries": round(counter.queries / requests, 2),
        "redis_commands": round(counter.redis / requests, 2),
        "bytes": len(body),
        "instructions": round(instructions / requests),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--only", default="", help="comma-separated targets")
    parser.add_argument("--profile", default="", help="target to profile with pyinstrument")
    parser.add_argument("--no-seed", action="store_true", help="reuse the database as it is")
    parser.add_argument(
        "--callgrind",
        default="",
        metavar="OUTFILE",
        help="count instructions: run under valgrind --tool=callgrind --instr-atstart=no "
        "--callgrind-out-file=OUTFILE and pass the same OUTFILE here",
    )
    args = parser.parse_args(argv)

    from benchmarks import bench_api
    from benchmarks.settings import DATABASE_URL

    if not args.no_seed:
        harness.reset_database(DATABASE_URL)
    harness.setup_django()
    from django.conf import settings as django_settings
    from django.core.cache import cache
    from django.core.wsgi import get_wsgi_application

    from transcription_platform.transcriptions.models import Transcription

    cache.clear()
    if args.no_seed:
        user = harness.bench_user("api-reader")
        detail_id = str(
            Transcription.objects.filter(owner=user).order_by("created_at")[bench_api.ROWS // 2].pk
        )
    else:
        user, detail_id = bench_api.seed()
    token = harness.access_token(user)
    app = get_wsgi_application()
    api = harness.API
    targets = {
        "bare": ("/bench/bare/", ""),
        "list": (f"{api}/transcriptions/", ""),
        "detail": (f"{api}/transcriptions/{detail_id}", ""),
        "ninja_list": ("/bench/ninja/transcriptions/", ""),
        "ninja_detail": (f"/bench/ninja/transcriptions/{detail_id}", ""),
        "drf_list": ("/bench/drf/transcriptions/", ""),
        "drf_detail": (f"/bench/drf/transcriptions/{detail_id}/", ""),
    }
    only = [t for t in args.only.split(",") if t] or list(targets)
    callgrind = Callgrind(args.callgrind) if args.callgrind else None
    if callgrind is not None:
        # Under valgrind a request takes ~50 times as long: the caches that last a few
        # seconds (the principal's) would expire every few requests instead of every
        # few thousand, and count what a real server does not.
        from django.test import override_settings

        from transcription_platform.conf import settings as platform_settings

        stretched = {
            **django_settings.TRANSCRIPTION_PLATFORM,
            "PRINCIPAL_CACHE_SECONDS": 50 * platform_settings.PRINCIPAL_CACHE_SECONDS,
        }
        override_settings(TRANSCRIPTION_PLATFORM=stretched).enable()
    print(
        f"{'target':<14}{'py ms':>8}{'pg ms':>8}{'wall ms':>9}{'SQL':>6}{'redis':>7}"
        f"{'bytes':>8}{'instr.':>12}"
    )
    for name in only:
        path, query = targets[name]
        figures = measure(app, _environ(path, query, token), args.requests, callgrind=callgrind)
        print(
            f"{name:<14}{figures['python_cpu_ms']:>8}{figures['postgres_cpu_ms']:>8}"
            f"{figures['wall_ms']:>9}{figures['queries']:>6}{figures['redis_commands']:>7}"
            f"{figures['bytes']:>8}{figures['instructions']:>12,}",
            flush=True,
        )
    if args.profile:
        from pyinstrument import Profiler

        path, query = targets[args.profile]
        environ = _environ(path, query, token)
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(args.requests):
            b"".join(app(dict(environ), lambda s, h, e=None: None))
        profiler.stop()
        out = Path(tempfile.gettempdir()) / f"cpu_api-{args.profile}.txt"
        with open(out, "w") as handle:
            handle.write(profiler.output_text(unicode=False, color=False, show_all=False))
        print(f"profile: {out}")


if __name__ == "__main__":
    main()
