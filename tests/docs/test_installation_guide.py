"""docs/installation.md, followed to the letter on a fresh ``startproject`` site.

The page's snippets are fenced blocks preceded by ``<!-- install:TAG -->``; this test
reads them from the page (so the page and the test cannot drift), appends them to a
new site's ``settings.py`` and ``urls.py``, runs its commands, starts the worker and
the server it names, then transcribes the committed sample through the HTTP API.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.wer import wer

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "installation.md"
SAMPLE = ROOT / "samples" / "speech_en.ogg"
REFERENCE = (ROOT / "samples" / "speech_en.txt").read_text()
TAGS = {"pip", "settings", "urls", "migrate", "worker", "server"}
BLOCK = re.compile(
    r"^<!-- install:(?P<tag>[\w-]+) -->\n```(?P<lang>\w*)\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
# The local engine's bound on this sample (tests/engines/test_faster_whisper.py).
WER_BOUND = 0.05


def tagged_blocks() -> dict[str, str]:
    """Tag → body of each tagged block; a tag used twice is an error in the page."""
    blocks: dict[str, str] = {}
    for match in BLOCK.finditer(GUIDE.read_text()):
        assert match["tag"] not in blocks, f"install:{match['tag']} tags two blocks"
        blocks[match["tag"]] = match["body"]
    return blocks


def manage_commands(block: str) -> list[list[str]]:
    """The ``python manage.py ...`` lines of a shell block, run with this interpreter."""
    commands = []
    for line in block.splitlines():
        argv = shlex.split(line, comments=True)
        if not argv:
            continue
        assert argv[:2] == ["python", "manage.py"], f"not a manage.py command: {line!r}"
        commands.append([sys.executable, *argv[1:]])
    return commands


def test_the_page_tags_every_step() -> None:
    assert set(tagged_blocks()) == TAGS


def test_the_pip_line_names_real_extras() -> None:
    (line,) = tagged_blocks()["pip"].split("\n", 1)[:1]
    match = re.fullmatch(r'pip install "transcription-platform\[(?P<extras>[\w,-]+)\]"', line)
    assert match, f"unexpected install line: {line!r}"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"])
    assert set(match["extras"].split(",")) <= extras


def test_every_extra_in_the_table_exists() -> None:
    table = GUIDE.read_text().split("| Extra |", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"^\| `([\w-]+)` \|", table, re.MULTILINE))  # hyphenated too: model-base
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert named == set(pyproject["project"]["optional-dependencies"])


# --------------------------------------------------------------------------- the site


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_environment() -> dict[str, str]:
    """This interpreter's environment without the test suite's Django settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def request(
    method: str, url: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def post_json(url: str, payload: dict[str, Any]) -> tuple[int, Any]:
    status, body = request(
        "POST",
        url,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )
    return status, json.loads(body)


def multipart(fields: dict[str, str], file_field: str, path: Path) -> tuple[bytes, str]:
    boundary = f"----guide{uuid.uuid4().hex}"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{path.name}"\r\nContent-Type: audio/ogg\r\n\r\n'.encode()
        + path.read_bytes()
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def wait_for(predicate: Any, timeout: float, what: str, processes: list) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                pytest.fail(
                    f"{process.args[2]} exited with {process.returncode} waiting for {what}"
                )
        result = predicate()
        if result:
            return result
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A fresh ``startproject`` site with the page's settings and URLs appended."""
    blocks = tagged_blocks()
    root = tmp_path / "site"
    root.mkdir()
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(root)],
        check=True,
        env=site_environment(),
    )
    for name, tag in (("settings.py", "settings"), ("urls.py", "urls")):
        with (root / "mysite" / name).open("a") as handle:
            handle.write("\n\n" + blocks[tag])
    return root


@pytest.fixture
def running(site: Path) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """Run the page's commands: migrate to completion, then the worker and the server
    (on a free port, without the autoreloader: the only arguments the test adds)."""
    blocks = tagged_blocks()
    env = site_environment()
    for command in manage_commands(blocks["migrate"]):
        subprocess.run(command, cwd=site, env=env, check=True, capture_output=True)
    (worker,) = manage_commands(blocks["worker"])
    (server,) = manage_commands(blocks["server"])
    port = free_port()
    logs = site / "logs"
    logs.mkdir()
    processes = []
    try:
        for name, command in (
            ("worker", worker),
            ("server", [*server, "--noreload", f"127.0.0.1:{port}"]),
        ):
            with (logs / f"{name}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        command, cwd=site, env=env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
        yield f"http://127.0.0.1:{port}", processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.integration
def test_a_fresh_site_following_the_page_transcribes(site: Path, running) -> None:
    base, processes = running
    api = f"{base}/rest/api/v1"

    def server_up() -> bool:
        try:
            return request("GET", f"{base}/healthz")[0] == 200
        except OSError:
            return False

    wait_for(server_up, 60, "the server", processes)

    # Registration is closed on a site that did not opt in.
    credentials = {"email": "guide@example.com", "password": "a-long-passphrase-42"}
    status, error = post_json(f"{api}/auth/registration/", credentials)
    assert status == 403, error
    assert error["error"]["code"] == "registration_closed"
    # The page's way in: createsuperuser (non-interactive here), then login.
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", "guide"],
        cwd=site,
        env={
            **site_environment(),
            "DJANGO_SUPERUSER_EMAIL": credentials["email"],
            "DJANGO_SUPERUSER_PASSWORD": credentials["password"],
        },
        check=True,
    )
    status, tokens = post_json(f"{api}/auth/login/", credentials)
    assert status == 200, tokens
    auth = {"Authorization": f"Bearer {tokens['access']}"}

    body, content_type = multipart({"language": "en"}, "audio_file", SAMPLE)
    status, raw = request(
        "POST",
        f"{api}/transcriptions/",
        body=body,
        headers={**auth, "Content-Type": content_type},
    )
    assert status == 201, raw
    job = json.loads(raw)
    assert job["status"] == "pending"

    def finished() -> dict | None:
        detail = json.loads(request("GET", f"{api}/transcriptions/{job['id']}", headers=auth)[1])
        return detail if detail["status"] in ("completed", "failed") else None

    detail = wait_for(finished, 180, "the worker to transcribe the sample", processes)
    assert detail["status"] == "completed", detail["error"]
    assert detail["engine"] == "default"
    assert detail["model"] == "whisper-tiny.en"
    assert wer(REFERENCE, detail["text"]) <= WER_BOUND

    status, srt = request(
        "GET", f"{api}/transcriptions/{job['id']}/export?format=srt", headers=auth
    )
    assert status == 200
    assert srt.startswith(b"1\n00:00:0")
    # The audio is stored under the page's MEDIA_ROOT.
    assert list((site / "media").rglob(f"{job['id']}.ogg"))
