"""What every benchmark needs: a fresh database, real server and cluster processes,
HTTP calls to the API, generated speech files and memory readings from /proc.

Everything runs on 127.0.0.1; every wait is bounded and fails with
:class:`BenchmarkError` saying what did not happen.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "speech_en.ogg"
SAMPLE_TEXT = (ROOT / "samples" / "speech_en.txt").read_text().strip()
SETTINGS_MODULE = "benchmarks.settings"
API = "/rest/api/v1"
RATE = 16000

T = TypeVar("T")


class BenchmarkError(RuntimeError):
    """A benchmark could not measure (a process did not start, a job failed…)."""


# --------------------------------------------------------------------------- database


def reset_database(database_url: str) -> None:
    """Drop and re-create the benchmark database: every run starts from empty tables."""
    import psycopg

    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name) or name in {"test", "test_test", "postgres"}:
        raise BenchmarkError(
            f"Refusing to reset database {name!r}: point BENCH_DATABASE_URL at a database "
            "of its own (default tp_bench)."
        )
    maintenance = parsed._replace(path="/postgres").geturl()
    try:
        with psycopg.connect(maintenance, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        raise BenchmarkError(f"PostgreSQL is not reachable at {maintenance}: {exc}") from exc


def setup_django() -> None:
    """Configure Django in this process with the benchmark settings and migrate."""
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE, "PYTHONPATH": str(ROOT)}
    env.update(extra)
    return env


# --------------------------------------------------------------------------- waiting


def run_module(args: list[str], what: str, timeout: float = 1800) -> Any:
    """``python -m <args>`` in a fresh process (nothing else loaded, its own peak RSS);
    the JSON document its last line of output prints.

    Raises:
        BenchmarkError: The process failed (its stderr's end is in the message).
    """
    completed = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise BenchmarkError(f"{what} failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``predicate`` until it returns something truthy, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchmarkError(f"Timed out after {timeout:.0f}s waiting for {what}.")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- processes


class ProcessGroup:
    """A subprocess in its own session, so it is stopped with all its children."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args = args
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        if self.process is None:
            raise BenchmarkError("The process was not started.")
        return self.process.pid

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise BenchmarkError(
                f"{self.args[2:4]} exited with code {self.process.returncode}; see {self.log}."
            )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def members(self) -> list[int]:
        """Pids of every live process of this group (the process and its children)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # Field 5 (process group) comes after the parenthesised command name.
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == self.pid:
                pids.append(int(entry.name))
        return sorted(pids)

    def __enter__(self) -> ProcessGroup:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def gunicorn(port: int, log: Path, workers: int = 2) -> ProcessGroup:
    return ProcessGroup(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "benchmarks.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        child_env(),
        log,
    )


def qcluster(log: Path, **env: str) -> ProcessGroup:
    # django-q2 closes stale connections before each task itself: no health check in
    # the cluster (docs/operations.md, "Task worker").
    env = {"BENCH_CONN_HEALTH_CHECKS": "0", **env}
    return ProcessGroup([sys.executable, "-m", "django", "qcluster"], child_env(**env), log)


def wait_for_cluster(cluster: ProcessGroup, timeout: float = 60) -> None:
    """Enqueue a no-op and wait for its result: the cluster is up and polling."""
    from django_q.models import Task
    from django_q.tasks import async_task

    group = f"warm-up-{uuid.uuid4().hex[:8]}"
    async_task("benchmarks.tasks.noop", group=group, save=True)  # saved whatever save_limit

    def done() -> bool:
        cluster.check_alive()
        return Task.objects.filter(group=group).exists()

    wait_for(done, timeout, "the cluster to run a first task")


# --------------------------------------------------------------------------- memory


def status_kib(pid: int, field: str) -> int | None:
    """A ``VmRSS``/``VmHWM``… value of /proc/<pid>/status in KiB (None once it exited)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by the live processes ``pids``."""
    return sum(cpu_seconds_by_pid(pids).values())


def cpu_seconds_by_pid(pids: list[int]) -> dict[int, float]:
    """User + system CPU time used so far by each live process of ``pids``."""
    seconds = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # utime and stime are fields 14 and 15, after the parenthesised command name.
        fields = stat.rsplit(")", 1)[1].split()
        seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def status_kib_self(field: str) -> int | None:
    return status_kib(os.getpid(), field)


class MemorySampler(threading.Thread):
    """Samples the RSS of a process group's members; records each member's peak.

    Per process the peak is the kernel's own high-water mark (``VmHWM``), so nothing
    between two samples is missed; the group total is the largest sum seen at once.
    """

    def __init__(self, group: ProcessGroup, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.group = group
        self.interval = interval
        self.peaks_kib: dict[int, int] = {}
        self.max_total_kib = 0
        self._halt = threading.Event()

    def sample(self) -> None:
        total = 0
        for pid in self.group.members():
            rss = status_kib(pid, "VmRSS")
            hwm = status_kib(pid, "VmHWM")
            if rss is None or hwm is None:
                continue
            total += rss
            self.peaks_kib[pid] = max(self.peaks_kib.get(pid, 0), hwm)
        self.max_total_kib = max(self.max_total_kib, total)

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def finish(self) -> dict[str, float]:
        self._halt.set()
        self.join()
        self.sample()
        peaks = sorted(self.peaks_kib.values(), reverse=True)
        if not peaks:
            raise BenchmarkError("No process of the cluster could be measured.")
        return {
            "largest_process_peak_rss_mib": round(peaks[0] / 1024, 1),
            "cluster_total_peak_rss_mib": round(self.max_total_kib / 1024, 1),
            "processes": len(peaks),
        }


# --------------------------------------------------------------------------- HTTP


def call_api(
    base: str,
    method: str,
    path: str,
    *,
    token: str | None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 300,
) -> tuple[int, Any]:
    """One request (with the JWT when ``token``); returns (status, decoded JSON body)."""
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = Request(f"{base}{path}", data=body, method=method, headers=headers)
    try:
        with urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")
    except URLError as exc:
        raise BenchmarkError(f"{method} {base}{path} failed: {exc.reason}") from exc
    except OSError as exc:  # timeouts, resets
        raise BenchmarkError(f"{method} {base}{path} failed: {exc}") from exc


def upload(base: str, token: str, path: Path, **fields: str) -> dict[str, Any]:
    """POST the file to /transcriptions/ as multipart; the created transcription."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio_file"; '
        f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
    )
    body = b"".join(parts) + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    status, answer = call_api(
        base,
        "POST",
        f"{API}/transcriptions/",
        token=token,
        body=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    if status != 201:
        raise BenchmarkError(f"Upload of {path.name} answered {status}: {answer}")
    return dict(answer)


def wait_until_finished(base: str, token: str, pk: str, timeout: float) -> dict[str, Any]:
    """Poll the detail endpoint until the job is completed (or raise on failure)."""

    def finished() -> dict[str, Any] | None:
        status, body = call_api(base, "GET", f"{API}/transcriptions/{pk}", token=token)
        if status != 200:
            raise BenchmarkError(f"GET transcription {pk} answered {status}: {body}")
        return body if body["status"] in {"completed", "failed", "cancelled"} else None

    body = wait_for(finished, timeout, f"transcription {pk} to finish", interval=0.25)
    if body["status"] != "completed":
        raise BenchmarkError(f"Transcription {pk} ended {body['status']}: {body['error']}")
    return body


def access_token(user: Any) -> str:
    from ninja_jwt.tokens import RefreshToken

    return str(RefreshToken.for_user(user).access_token)


def bench_user(username: str) -> Any:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(
        username=username, defaults={"email": f"{username}@bench.invalid"}
    )
    return user


# --------------------------------------------------------------------------- audio


def sample_pcm() -> Any:
    """The committed speech sample as 16 kHz mono int16 samples."""
    import av
    import numpy as np

    with av.open(str(SAMPLE)) as source:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        return np.concatenate(
            [
                frame.to_ndarray().ravel()
                for decoded in source.decode(audio=0)
                for frame in resampler.resample(decoded)
            ]
        )


def write_flac(path: Path, pcm: Any) -> Path:
    """16 kHz mono int16 samples to a FLAC file, encoded a second at a time."""
    import av

    with av.open(str(path), "w", format="flac") as output:
        stream = output.add_stream("flac", rate=RATE, layout="mono")
        for start in range(0, len(pcm), RATE):
            frame = av.AudioFrame.from_ndarray(
                pcm[start : start + RATE].reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = RATE
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return path


def speech_file(path: Path, seconds: float) -> tuple[Path, str]:
    """The sample repeated with pauses to exactly ``seconds``; (file, known text).

    The pause after each copy (at least 0.5 s) is stretched so the copies fill the
    length exactly, which keeps every copy whole: the known text is the sample's text
    once per copy.
    """
    import numpy as np

    speech = sample_pcm()
    speech_seconds = len(speech) / RATE
    copies = int(seconds // (speech_seconds + 0.5))
    if copies < 1:
        raise BenchmarkError(f"A speech file needs at least {speech_seconds + 0.5:.1f} s.")
    pause_samples = round((seconds - copies * speech_seconds) / copies * RATE)
    one = np.concatenate([speech, np.zeros(pause_samples, np.int16)])
    pcm = np.tile(one, copies)[: round(seconds * RATE)]
    write_flac(path, pcm)
    return path, " ".join([SAMPLE_TEXT] * copies)


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t: ...`` then ``t["seconds"]``."""
    result: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield result
    finally:
        result["seconds"] = time.perf_counter() - start
