from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.audio import write_audio
from tests.fixtures.storage import use_tmp_storage


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings) -> Path:
    """Every test stores audio in its own empty directory."""
    return use_tmp_storage(settings, tmp_path / "media")


@pytest.fixture(autouse=True)
def _no_backoff(settings):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "TASK_RETRY_BACKOFF_SECONDS": 0,
    }


@pytest.fixture
def tone_wav(tmp_path) -> Path:
    """3 s of tone, 1 s of silence, 2 s of tone."""
    return write_audio(tmp_path / "tone.wav", [(3.0, 440), (1.0, None), (2.0, 660)])
