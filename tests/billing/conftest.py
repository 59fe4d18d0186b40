from __future__ import annotations

import pytest

from tests.conftest import API
from tests.fixtures.audio import write_audio

FAKE_ENGINE = "transcription_platform.engines.fake.FakeEngine"
OPENAI_ENGINE = "transcription_platform.engines.openai.OpenAIEngine"
EXTRACTIVE = "transcription_platform.analysis.analyzers.extractive.ExtractiveAnalyzer"

#: A price for the fake engine's model, so the ledger has non-zero costs to check.
FAKE_PRICES = {"fake-1": [{"effective_from": "2020-01-01", "per_audio_minute": "0.6"}]}


def platform(**extra) -> dict:
    return {
        "ENGINES": {"default": {"BACKEND": FAKE_ENGINE, "OPTIONS": {}}},
        "ANALYZERS": {"default": {"BACKEND": EXTRACTIVE, "OPTIONS": {}}},
        "TASK_RETRY_BACKOFF_SECONDS": 0,
        "RATE_LIMITS": {"transcription_create": None, "user": None},
        "PRICES": FAKE_PRICES,
        **extra,
    }


@pytest.fixture(autouse=True)
def billing_settings(tmp_path, settings, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    root = tmp_path / "media"
    root.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    settings.TRANSCRIPTION_PLATFORM = platform()
    return settings


@pytest.fixture
def media_root(billing_settings):
    return billing_settings.STORAGES["default"]["OPTIONS"]["location"]


@pytest.fixture
def wav(tmp_path):
    """6 s of audio (3 s tone, 1 s silence, 2 s tone)."""
    return write_audio(tmp_path / "six.wav", [(3.0, 440), (1.0, None), (2.0, 660)])


def post_audio(client, path, **fields):
    with open(path, "rb") as handle:
        return client.post(f"{API}/transcriptions/", {"audio_file": handle, **fields})


@pytest.fixture
def transcribe(auth_client, wav, django_capture_on_commit_callbacks):
    """Upload ``wav`` and run the whole pipeline (django-q2 sync mode, on commit)."""

    def run(client=auth_client, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            response = post_audio(client, wav, **fields)
        assert response.status_code == 201, response.content
        return response.json()["id"]

    return run
