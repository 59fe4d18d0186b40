from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import API
from tests.fixtures.audio import write_audio

SPEECH_SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "speech_en.ogg"


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings) -> Path:
    """Every test stores audio in its own empty directory."""
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


@pytest.fixture(autouse=True)
def _no_backoff(settings):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "TASK_RETRY_BACKOFF_SECONDS": 0,
    }


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def tone_wav(tmp_path) -> Path:
    """3 s of tone, 1 s of silence, 2 s of tone."""
    return write_audio(tmp_path / "tone.wav", [(3.0, 440), (1.0, None), (2.0, 660)])


def upload(client: Client, path: Path, *, headers: dict | None = None, **fields):
    with open(path, "rb") as handle:
        return client.post(
            f"{API}/transcriptions/",
            {"audio_file": handle, **fields},
            headers=headers or {},
        )
