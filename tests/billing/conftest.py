from __future__ import annotations

import pytest

from tests.fixtures.audio import write_audio
from tests.fixtures.billing import platform
from tests.fixtures.storage import use_tmp_storage
from tests.fixtures.uploads import upload


@pytest.fixture(autouse=True)
def billing_settings(tmp_path, settings, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    use_tmp_storage(settings, tmp_path / "media")
    settings.TRANSCRIPTION_PLATFORM = platform()
    return settings


@pytest.fixture
def media_root(billing_settings):
    return billing_settings.STORAGES["default"]["OPTIONS"]["location"]


@pytest.fixture
def wav(tmp_path):
    """6 s of audio (3 s tone, 1 s silence, 2 s tone)."""
    return write_audio(tmp_path / "six.wav", [(3.0, 440), (1.0, None), (2.0, 660)])


@pytest.fixture
def transcribe(auth_client, wav, django_capture_on_commit_callbacks):
    """Upload ``wav`` and run the whole pipeline (django-q2 sync mode, on commit)."""

    def run(client=auth_client, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(client, wav, **fields)
        assert response.status_code == 201, response.content
        return response.json()["id"]

    return run
