"""A live WSGI server on 127.0.0.1 (ports 18600-18699) and SDK clients for it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from django.test.testcases import LiveServerThread, _StaticFilesHandler

#: Live WSGI servers here; uvicorn processes in 18600-18639 (test_asgi.py), so two test
#: sessions that probe at the same moment do not pick one port for both kinds.
PORTS = range(18640, 18700)


def free_port(ports: range = PORTS) -> int:
    """A port of ``ports`` nobody listens on (the caller binds it right away)."""
    for port in ports:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports}")


@pytest.fixture
def live_url(transactional_db) -> Iterator[str]:
    """A threaded WSGI server of the test project, sharing the test database."""
    # An in-memory SQLite database exists only in its connection: hand it over.
    override = {
        conn.alias: conn
        for conn in connections.all()
        if conn.vendor == "sqlite" and conn.is_in_memory_db()
    }
    for conn in override.values():
        conn.inc_thread_sharing()
    thread = LiveServerThread("127.0.0.1", _StaticFilesHandler, override, port=free_port())
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    if thread.error:
        raise thread.error
    try:
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()
        for conn in override.values():
            conn.dec_thread_sharing()


@pytest.fixture
def api_key(user) -> str:
    from transcription_platform.accounts.services import create_api_key

    _key, secret = create_api_key(user, "sdk")
    return str(secret)


@pytest.fixture
def sdk(live_url, api_key):
    """The official SDK's sync client, pointed at our /v1/ (no retries unless asked)."""
    from openai import OpenAI

    with OpenAI(base_url=f"{live_url}/v1", api_key=api_key, max_retries=0) as client:
        yield client


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings) -> Path:
    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root
