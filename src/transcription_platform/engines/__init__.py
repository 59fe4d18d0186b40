"""Speech engines: the interface, the registry (``ENGINES`` setting) and audio helpers.

Engines are configured like Django's ``CACHES``::

    TRANSCRIPTION_PLATFORM = {
        "ENGINES": {
            "default": {
                "BACKEND": "transcription_platform.engines.openai.OpenAIEngine",
                "OPTIONS": {"model": "whisper-1"},
            },
        },
    }

`get_engine` builds each named engine once per process (a local model loads
once per worker, not once per job) and forgets them when the setting changes: the
`transcription_platform.plugins.Registry` every plugin family shares.
"""

from __future__ import annotations

from transcription_platform.engines.audio import AudioClip, AudioInfo, plan_chunks, probe
from transcription_platform.engines.base import CallbackEvent, SpeechEngine, StopTranscribing
from transcription_platform.engines.errors import (
    EngineError,
    InvalidAudio,
    ModelIntegrityError,
    PermanentEngineError,
    RetryableEngineError,
)
from transcription_platform.engines.results import (
    Segment,
    TranscriptResult,
    Usage,
    Word,
    stitch,
)
from transcription_platform.plugins import Registry

__all__ = [
    "AudioClip",
    "AudioInfo",
    "CallbackEvent",
    "EngineError",
    "InvalidAudio",
    "ModelIntegrityError",
    "PermanentEngineError",
    "RetryableEngineError",
    "Segment",
    "SpeechEngine",
    "StopTranscribing",
    "TranscriptResult",
    "Usage",
    "Word",
    "engine_names",
    "get_engine",
    "plan_chunks",
    "probe",
    "stitch",
]

#: The ``ENGINES`` plugin family (see `transcription_platform.plugins`).
engines: Registry[SpeechEngine] = Registry(
    "ENGINES", SpeechEngine, default_setting="DEFAULT_ENGINE"
)


def engine_names() -> list[str]:
    """Names of the configured engines, in settings order."""
    return engines.names()


def get_engine(name: str | None = None) -> SpeechEngine:
    """The engine configured under ``name`` (default: ``DEFAULT_ENGINE``), built once
    per process; see `transcription_platform.plugins.Registry.get`."""
    return engines.get(name)


def clear_engine_cache() -> None:
    """Forget built engines (the next `get_engine` builds them again)."""
    engines.clear()
