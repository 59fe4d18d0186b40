"""End-to-end demo: the example project serving, a worker transcribing, a client uploading.

Run with ``nox -s demo`` (or ``python example_project/demo.py`` in an environment with
``transcription-platform[demo]``). It migrates the SQLite database, creates a demo
user, starts ``runserver`` and a ``qcluster``, uploads the committed speech sample
through the HTTP API exactly as a client would, follows its progress and prints the
transcript. Then it keeps serving until Ctrl-C; ``--once`` exits instead (CI).

The client side uses only the standard library, so it reads as a recipe for any client.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent
REPO_DIR = PROJECT_DIR.parent
SAMPLES_DIR = REPO_DIR / "samples"
API = "/rest/api/v1"

DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-transcribe-2024"  # noqa: S105  (printed on screen: a local demo account)

TERMINAL_STATUSES = {"completed", "failed", "cancelled"}


class DemoError(Exception):
    """A step of the demo failed; the message says which and why."""


# --------------------------------------------------------------------------- HTTP client


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def data(self, *required: str) -> dict[str, Any]:
        """The JSON object of the body, which must hold ``required``; else a DemoError."""
        try:
            data = self.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or any(key not in data for key in required):
            raise DemoError(
                f"unexpected answer (HTTP {self.status}), expected a JSON object with "
                f"{', '.join(required) or 'fields'}: {self.body[:300]!r}"
            )
        return data


class Client:
    """A tiny JSON/multipart client for the API on ``base_url``."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float = 30,
    ) -> Response:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310  (always http://127.0.0.1)
            self.base_url + path, data=body, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
                return Response(reply.status, dict(reply.headers), reply.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read())

    def post_json(self, path: str, payload: dict[str, Any]) -> Response:
        return self.request(
            "POST", path, body=json.dumps(payload).encode(), content_type="application/json"
        )

    def post_file(self, path: str, field: str, file: Path, fields: dict[str, str]) -> Response:
        body, content_type = encode_multipart(field, file, fields)
        return self.request("POST", path, body=body, content_type=content_type, timeout=120)

    def get(self, path: str) -> Response:
        return self.request("GET", path)


def encode_multipart(field: str, file: Path, fields: dict[str, str]) -> tuple[bytes, str]:
    """A multipart/form-data body with ``fields`` and one file part named ``field``."""
    boundary = f"----demo{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    parts.append(
        f"--{boundary}\r\nContent-Disposition: form-data; "
        f'name="{field}"; filename="{file.name}"\r\nContent-Type: {mime}\r\n\r\n'.encode()
        + file.read_bytes()
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def explain(response: Response) -> str:
    """The API's error message (our ``{"error": ...}`` shape) or the raw start of the body."""
    try:
        error = response.json()["error"]
        return f"HTTP {response.status} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status}: {response.body[:300]!r}"


# --------------------------------------------------------------------------- processes


def free_port(preferred: int) -> int:
    """``preferred`` when nothing listens there, else a free port the OS picks."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]


def manage(*args: str, env: dict[str, str]) -> None:
    """Run a management command to completion; a failure stops the demo."""
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env=env, check=False
    )
    if result.returncode != 0:
        raise DemoError(f"manage.py {' '.join(args)} exited with {result.returncode}")


@dataclass
class Child:
    """A process the demo started; its output goes to ``log`` to keep the screen readable."""

    name: str
    process: subprocess.Popen
    log: Path

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
            raise DemoError(
                f"the {self.name} exited early with {self.process.returncode}; "
                f"last lines of {self.log}:\n{tail}"
            )


@contextmanager
def running(name: str, args: list[str], env: dict[str, str]) -> Iterator[Child]:
    """A child process in its own process group; the group is stopped on the way out."""
    log = PROJECT_DIR / "logs" / f"demo-{name.replace(' ', '-')}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("wb") as output:
        # Its own session: Ctrl-C reaches only the demo, which then stops the children.
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, *args],
            cwd=PROJECT_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    print(f"  started the {name} (pid {process.pid}, output in {log.relative_to(REPO_DIR)})")
    try:
        yield Child(name, process, log)
    finally:
        stop(name, process)


def stop(name: str, process: subprocess.Popen) -> None:
    """SIGTERM the whole group (qcluster has worker children), SIGKILL after 20 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
    # A worker the cluster left behind still belongs to the group.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    print(f"  stopped the {name}")


def check_alive(children: list[Child]) -> None:
    for child in children:
        child.check_alive()


def wait_until_serving(client: Client, children: list[Child], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive(children)
        try:
            if client.get("/healthz").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise DemoError(f"the server did not answer /healthz within {timeout:.0f} s")


def wait_until_healthy(client: Client, children: list[Child], timeout: float) -> None:
    """Wait for every health check, the worker's first heartbeat included, to pass."""
    deadline = time.monotonic() + timeout
    shown = None
    while time.monotonic() < deadline:
        check_alive(children)
        response = client.get(f"{API}/transcriptions/health/")
        if response.status == 200:
            print(f"  GET {API}/transcriptions/health/ -> 200, every check healthy")
            return
        checks = response.data("checks")["checks"]
        failing = sorted(name for name, ok in checks.items() if not ok)
        if failing != shown:
            print(f"  waiting for: {', '.join(failing)} (the worker reports in once a minute)")
            shown = failing
        time.sleep(1)
    raise DemoError(f"the health checks did not all pass within {timeout:.0f} s: {shown}")


# --------------------------------------------------------------------------- demo steps


def prepare_database(env: dict[str, str]) -> None:
    print("Preparing the database (SQLite in example_project/var/)...")
    manage("migrate", "--noinput", "-v", "0", env=env)
    manage(
        "shell",
        "--verbosity",
        "0",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "User = get_user_model()\n"
        f"user, _ = User.objects.get_or_create(username={DEMO_USERNAME!r}, "
        f"defaults={{'email': {DEMO_EMAIL!r}}})\n"
        f"user.email = {DEMO_EMAIL!r}\n"
        "user.is_staff = user.is_superuser = True\n"
        f"user.set_password({DEMO_PASSWORD!r})\n"
        "user.save()\n",
        env=env,
    )
    print(f"  demo user: {DEMO_EMAIL} / {DEMO_PASSWORD} (also the admin login)")


def find_sample(path: Path | None) -> tuple[Path, str | None]:
    """The audio to upload and its reference text (``<name>.txt`` beside it), if any.

    Without ``path``: the committed ``samples/speech_en.*``.
    """
    if path is None:
        found = sorted(p for p in SAMPLES_DIR.glob("speech_en.*") if p.suffix != ".txt")
        if not found:
            raise DemoError(f"no speech sample found: expected {SAMPLES_DIR}/speech_en.<audio>")
        path = found[0]
    if not path.is_file():
        raise DemoError(f"{path} is not a file")
    reference = path.with_suffix(".txt")
    return path, reference.read_text().strip() if reference.is_file() else None


def login(client: Client) -> None:
    response = client.post_json(
        f"{API}/auth/login/", {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    if response.status != 200:
        raise DemoError(f"login failed: {explain(response)}")
    client.token = response.data("access")["access"]
    print(f"  POST {API}/auth/login/ -> 200, got an access token")


def upload(client: Client, sample: Path) -> str:
    response = client.post_file(
        f"{API}/transcriptions/",
        "audio_file",
        sample,
        {"language": "en", "title": f"Demo: {sample.name}"},
    )
    if response.status != 201:
        raise DemoError(f"upload failed: {explain(response)}")
    job = response.data("id", "status")
    print(f"  POST {API}/transcriptions/ -> 201, id {job['id']}, status {job['status']}")
    return job["id"]


def follow(client: Client, job_id: str, children: list[Child], timeout: float) -> dict:
    """Poll the job until it finishes, printing each change of status or progress."""
    deadline = time.monotonic() + timeout
    last: tuple[str, int] | None = None
    while time.monotonic() < deadline:
        check_alive(children)
        response = client.get(f"{API}/transcriptions/{job_id}")
        if response.status != 200:
            raise DemoError(f"reading the job failed: {explain(response)}")
        job = response.data("id", "status")
        state = (job["status"], int(job.get("progress") or 0))
        if state != last:
            bar = "#" * (state[1] // 5)
            print(f"  {state[0]:<11} [{bar:<20}] {state[1]:3d}%")
            last = state
        if job["status"] in TERMINAL_STATUSES:
            return job
        time.sleep(1)
    raise DemoError(f"the transcription did not finish within {timeout:.0f} s")


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance over the reference length (case/punctuation-blind)."""

    def words(text: str) -> list[str]:
        cleaned = "".join(c.lower() if c.isalnum() or c == "'" else " " for c in text)
        return cleaned.split()

    ref, hyp = words(reference), words(hypothesis)
    previous = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        current = [i]
        for j, hyp_word in enumerate(hyp, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
            )
        previous = current
    return previous[-1] / max(len(ref), 1)


def report(client: Client, base_url: str, job: dict, sample: Path, reference: str | None) -> None:
    if job["status"] != "completed":
        error = job.get("error") or {}
        raise DemoError(
            f"the transcription ended {job['status']}: "
            f"{error.get('code', '?')}: {error.get('message', 'no message')}"
        )
    text = (job.get("text") or "").strip()
    if not text:
        raise DemoError("the transcription completed with an empty transcript")
    segments = job.get("segments") or []
    print("\nTranscript:\n")
    print(f"  {text}\n")
    print(f"  {len(segments)} segment(s)")
    for segment in segments[:5]:
        print(f"    {segment['start']:7.2f}s - {segment['end']:7.2f}s  {segment['text'].strip()}")
    if reference:
        wer = word_error_rate(reference, text)
        print(f"  word error rate against {sample.with_suffix('.txt').name}: {wer:.1%}")
    srt = client.get(f"{API}/transcriptions/{job['id']}/export?format=srt")
    if srt.status != 200:
        raise DemoError(f"the SRT export failed: {explain(srt)}")
    print("\nSRT export (first lines):\n")
    for line in srt.body.decode().splitlines()[:8]:
        print(f"  {line}")
    print(
        "\nWhere to look:\n"
        f"  Web pages    {base_url}/app/  (sign in as {DEMO_USERNAME} / {DEMO_PASSWORD})\n"
        f"  The reader   {base_url}/app/transcriptions/{job['id']}/\n"
        f"  Swagger UI   {base_url}{API}/docs\n"
        f"  OpenAPI      {base_url}{API}/openapi.json\n"
        f"  Admin        {base_url}/admin/  ({DEMO_USERNAME} / {DEMO_PASSWORD})\n"
        f"  This job     {base_url}{API}/transcriptions/{job['id']}\n"
        f"  Exports      {base_url}{API}/transcriptions/{job['id']}/export"
        "?format=srt|vtt|txt|json\n"
        f"  Logs         {PROJECT_DIR / 'logs'}/"
    )


def run(once: bool, port: int, timeout: float, sample_path: Path | None) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local", "PYTHONUNBUFFERED": "1"}
    # The local engine uses the bundled model: nothing may be fetched from a model hub.
    env.setdefault("HF_HUB_OFFLINE", "1")
    sample, reference = find_sample(sample_path)
    prepare_database(env)

    port = free_port(port)
    base_url = f"http://127.0.0.1:{port}"
    client = Client(base_url)
    print(f"Starting the server on {base_url} and a task cluster...")
    server_args = ["manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    with (
        running("server", server_args, env) as server,
        running("task cluster", ["manage.py", "qcluster"], env) as cluster,
    ):
        children = [server, cluster]
        wait_until_serving(client, children, timeout=60)
        wait_until_healthy(client, children, timeout=150)
        print(f"Uploading {sample.name} through the API as a client would...")
        login(client)
        job_id = upload(client, sample)
        job = follow(client, job_id, children, timeout)
        report(client, base_url, job, sample, reference)
        if once:
            print("\nDemo completed (--once): stopping.")
            return
        print("\nServing until Ctrl-C...")
        while True:
            check_alive(children)
            time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="exit after the first transcript")
    parser.add_argument("--port", type=int, default=8000, help="preferred port (default 8000)")
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for the transcript"
    )
    parser.add_argument(
        "--sample", type=Path, help="audio file to upload (default: samples/speech_en.*)"
    )
    args = parser.parse_args(argv)
    try:
        run(args.once, args.port, args.timeout, args.sample)
    except KeyboardInterrupt:
        print("\nInterrupted: stopped the server and the task cluster.")
        return 0
    except DemoError as error:
        print(f"\nDemo failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
