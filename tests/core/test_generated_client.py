"""A client generated from the live schema with openapi-python-client drives the API.

Generated into ``tmp_path``, imported, and run against a real HTTP server on 127.0.0.1
(the test project's FakeEngine; django-q2 in sync mode runs each job when its upload
commits): log in, mint an API key, then with ``X-API-Key`` only: create with a real
recording → wait until completed → every export format → audio download.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from io import BytesIO, StringIO
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import srt
import webvtt
from pytest_django.live_server_helper import LiveServer

from tests.fixtures.api import API
from tests.fixtures.ports import free_port
from tests.fixtures.storage import use_tmp_storage
from tests.fixtures.uploads import SPEECH_SAMPLE

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: Our share of the loopback ports this machine's test servers may use.
PORTS = range(18150, 18200)
PACKAGE = "tp_generated_client"


@pytest.fixture
def server(settings, tmp_path) -> Iterator[str]:
    use_tmp_storage(settings, tmp_path / "media")
    live = LiveServer(f"127.0.0.1:{free_port(PORTS)}")
    try:
        yield live.url
    finally:
        live.stop()


@pytest.fixture
def generated(server, tmp_path) -> Iterator[ModuleType]:
    spec = tmp_path / "openapi.json"
    spec.write_bytes(httpx.get(f"{server}{API}/openapi.json").raise_for_status().content)
    target = tmp_path / "client" / PACKAGE
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("openapi-python-client")),
            "generate",
            "--path",
            str(spec),
            "--output-path",
            str(target),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Any warning means part of the schema could not be turned into code.
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(target.parent))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(target.parent))
        for name in [m for m in sys.modules if m.split(".")[0] == PACKAGE]:
            del sys.modules[name]


@pytest.fixture
def open_clients(server) -> Iterator[ExitStack]:
    """Closes the clients' keep-alive connections before the server stops."""
    with ExitStack() as stack:
        yield stack


def operation(operation_id: str) -> ModuleType:
    """The generated module of one operation (``<router>_<action>`` → api/<router>/)."""
    tag = next(t for t in ("api_keys", "auth", "transcriptions") if operation_id.startswith(t))
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{operation_id}")


def test_generated_client_runs_the_whole_flow(generated, server, open_clients, user, password):
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")

    anonymous = open_clients.enter_context(
        generated.Client(base_url=server, raise_on_unexpected_status=True)
    )
    tokens = operation("auth_login").sync(
        client=anonymous, body=models.LoginIn(email=user.email, password=password)
    )
    assert isinstance(tokens, models.TokensOut), tokens
    assert tokens.user.email == user.email
    with_jwt = open_clients.enter_context(
        generated.AuthenticatedClient(
            base_url=server, token=tokens.access, raise_on_unexpected_status=True
        )
    )
    me = operation("auth_me").sync(client=with_jwt)
    assert me.id == user.pk

    created_key = operation("api_keys_create").sync(
        client=with_jwt, body=models.ApiKeyIn(name="generated client")
    )
    assert isinstance(created_key, models.ApiKeyCreatedOut), created_key
    # From here on only the X-API-Key header (the apiKey scheme) authenticates.
    with_key = open_clients.enter_context(
        generated.AuthenticatedClient(
            base_url=server,
            token=created_key.key,
            prefix="",
            auth_header_name="X-API-Key",
            raise_on_unexpected_status=True,
        )
    )

    audio_bytes = SPEECH_SAMPLE.read_bytes()
    create = operation("transcriptions_create")
    body = models.TranscriptionsCreateMultiPartBodyParams(
        audio_file=types.File(
            payload=BytesIO(audio_bytes), file_name="speech_en.ogg", mime_type="audio/ogg"
        ),
        title="Generated client",
        analyze=False,
    )
    response = create.sync_detailed(client=with_key, body=body, idempotency_key="gen-client-1")
    assert response.status_code == 201, response.content
    transcription = response.parsed
    assert isinstance(transcription, models.TranscriptionOut)
    replay = create.sync_detailed(client=with_key, body=body, idempotency_key="gen-client-1")
    assert replay.status_code == 201
    assert replay.parsed.id == transcription.id
    assert replay.headers["Idempotent-Replayed"] == "true"

    get = operation("transcriptions_get")
    deadline = time.monotonic() + 60
    while transcription.status not in ("completed", "failed"):
        assert time.monotonic() < deadline, f"still {transcription.status}"
        time.sleep(0.2)
        transcription = get.sync(client=with_key, transcription_id=transcription.id)
    assert transcription.status == "completed", transcription.error
    assert transcription.text.strip()
    assert transcription.segments

    listed = operation("transcriptions_list").sync(client=with_key)
    assert [item.id for item in listed.results] == [transcription.id]

    export = operation("transcriptions_export")
    fmt = models.TranscriptionsExportFormat
    texts = {}
    for name in ("TXT", "SRT", "VTT", "JSON"):
        detailed = export.sync_detailed(
            client=with_key, transcription_id=transcription.id, format_=getattr(fmt, name)
        )
        assert detailed.status_code == 200, detailed.content
        assert isinstance(detailed.parsed, str)
        texts[name] = detailed.parsed
    assert texts["TXT"].strip() == transcription.text.strip()
    cues = list(srt.parse(texts["SRT"]))
    assert [cue.content for cue in cues] == [s.text.strip() for s in transcription.segments]
    captions = webvtt.from_buffer(StringIO(texts["VTT"]))
    assert len(captions) == len(cues)
    exported = models.TranscriptExport.from_dict(json.loads(texts["JSON"]))
    assert exported.id == transcription.id
    assert len(exported.segments) == len(transcription.segments)

    audio = operation("transcriptions_audio")
    downloaded = audio.sync_detailed(client=with_key, transcription_id=transcription.id)
    assert downloaded.status_code == 200
    assert downloaded.headers["Content-Type"] == "audio/ogg"
    assert downloaded.parsed.payload.read() == audio_bytes
