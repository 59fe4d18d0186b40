"""The load profile of ``benchmarks/bench_load.py``: list, detail, create and upload.

Run by the benchmark as ``locust --headless``; every simulated user keeps one
connection and sends its next request as soon as the last one is answered (no think
time), so ``-u 200`` holds 200 concurrent connections. The mix: 4 list : 4 detail :
1 create (a one-second WAV) : 1 upload (the 80 KB speech sample). An answer other than
the expected status counts as a failure.

Inputs come from the environment (set by the benchmark): ``BENCH_LOAD_TOKEN`` (a JWT),
``BENCH_LOAD_IDS`` (comma-separated transcription ids), ``BENCH_LOAD_SMALL`` and
``BENCH_LOAD_SPEECH`` (audio files).
"""

from __future__ import annotations

import os
import random
import uuid
from pathlib import Path

from locust import FastHttpUser, constant, task

API = "/rest/api/v1"
TOKEN = os.environ.get("BENCH_LOAD_TOKEN", "")
IDS = [i for i in os.environ.get("BENCH_LOAD_IDS", "").split(",") if i]


def multipart(path: str) -> tuple[bytes, str]:
    """A transcription upload of ``path`` for the fake engine: (body, content type)."""
    boundary = uuid.uuid4().hex
    name = Path(path).name
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="engine"\r\n\r\nfake\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio_file"; '
        f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    body = head + Path(path).read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


SMALL = multipart(os.environ["BENCH_LOAD_SMALL"]) if "BENCH_LOAD_SMALL" in os.environ else None
SPEECH = multipart(os.environ["BENCH_LOAD_SPEECH"]) if "BENCH_LOAD_SPEECH" in os.environ else None


class ApiClient(FastHttpUser):
    wait_time = constant(0)
    # Queued behind 199 others on a 2-core machine, an answer may take seconds; a
    # minute without one is an error.
    connection_timeout = 60.0
    network_timeout = 60.0

    def _expect(self, method: str, path: str, status: int, name: str, **kwargs: object) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        with self.client.request(
            method, path, headers=headers, name=name, catch_response=True, **kwargs
        ) as response:
            if response.status_code != status:
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(4)
    def list_transcriptions(self) -> None:
        self._expect("GET", f"{API}/transcriptions/", 200, "list")

    @task(4)
    def transcription_detail(self) -> None:
        self._expect("GET", f"{API}/transcriptions/{random.choice(IDS)}", 200, "detail")

    @task(1)
    def create(self) -> None:
        body, content_type = SMALL  # type: ignore[misc]
        self._expect(
            "POST",
            f"{API}/transcriptions/",
            201,
            "create",
            data=body,
            headers={"Content-Type": content_type},
        )

    @task(1)
    def upload(self) -> None:
        body, content_type = SPEECH  # type: ignore[misc]
        self._expect(
            "POST",
            f"{API}/transcriptions/",
            201,
            "upload",
            data=body,
            headers={"Content-Type": content_type},
        )
