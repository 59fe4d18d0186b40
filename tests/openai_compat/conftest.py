"""A live WSGI server on 127.0.0.1 (ports 18600-18699) and SDK clients for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connections
from django.test.testcases import LiveServerThread, _StaticFilesHandler

from tests.fixtures.ports import free_port
from tests.fixtures.storage import use_tmp_storage


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
    return use_tmp_storage(settings, tmp_path / "media")
