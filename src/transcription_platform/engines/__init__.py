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

:func:`get_engine` builds each named engine once per process (a local model loads
once per worker, not once per job) and forgets them when the setting changes.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from transcription_platform.conf import SETTINGS_NAME, settings
from transcription_platform.engines.audio import AudioClip, AudioInfo, plan_chunks, probe
from transcription_platform.engines.base import SpeechEngine
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
from transcription_platform.exceptions import ConfigurationError

__all__ = [
    "AudioClip",
    "AudioInfo",
    "EngineError",
    "InvalidAudio",
    "ModelIntegrityError",
    "PermanentEngineError",
    "RetryableEngineError",
    "Segment",
    "SpeechEngine",
    "TranscriptResult",
    "Usage",
    "Word",
    "engine_names",
    "get_engine",
    "plan_chunks",
    "probe",
    "stitch",
]

_engines: dict[str, SpeechEngine] = {}
_lock = threading.Lock()


def engine_names() -> list[str]:
    """Names of the configured engines, in settings order."""
    return list(settings.ENGINES)


def get_engine(name: str | None = None) -> SpeechEngine:
    """The engine configured under ``name`` (default: ``DEFAULT_ENGINE``), built once.

    Raises :class:`~transcription_platform.exceptions.ConfigurationError` (an
    ``ImproperlyConfigured``) naming the key at fault.
    """
    name = name or settings.DEFAULT_ENGINE
    engine = _engines.get(name)
    if engine is not None:
        return engine
    with _lock:
        if name not in _engines:
            _engines[name] = _build(name)
        return _engines[name]


def _build(name: str) -> SpeechEngine:
    key = f"{SETTINGS_NAME}['ENGINES'][{name!r}]"
    engines = settings.ENGINES
    if name not in engines:
        known = ", ".join(map(repr, engines)) or "none"
        raise ConfigurationError(f"{key} is not configured (configured engines: {known}).")
    config = engines[name]
    if not isinstance(config, dict) or "BACKEND" not in config:
        raise ConfigurationError(f"{key} must be a dict with a 'BACKEND' dotted path.")
    unknown_keys = sorted(set(config) - {"BACKEND", "OPTIONS"})
    if unknown_keys:
        raise ConfigurationError(f"{key} has unknown key(s): {', '.join(unknown_keys)}.")
    try:
        backend = import_string(config["BACKEND"])
    except ImportError as exc:
        if type(exc) is not ImportError and type(exc) is not ModuleNotFoundError:
            raise  # MissingExtra: its message already says what to install
        raise ConfigurationError(
            f"{key}['BACKEND'] = {config['BACKEND']!r} cannot be imported: {exc}"
        ) from exc
    if not (isinstance(backend, type) and issubclass(backend, SpeechEngine)):
        raise ConfigurationError(f"{key}['BACKEND'] must name a SpeechEngine subclass.")
    options: Any = config.get("OPTIONS", {})
    if not isinstance(options, dict):
        raise ConfigurationError(f"{key}['OPTIONS'] must be a dict.")
    _check_options(backend, options, key)
    return backend(name=name, **options)


def _check_options(backend: type[SpeechEngine], options: dict[str, Any], key: str) -> None:
    parameters = inspect.signature(backend.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = {n for n, p in parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigurationError(
            f"{key}['OPTIONS'] has unknown option(s) {', '.join(unknown)} for "
            f"{backend.__name__}; accepted: {', '.join(sorted(accepted - {'name'}))}."
        )


def clear_engine_cache() -> None:
    """Forget built engines (the next :func:`get_engine` builds them again)."""
    with _lock:
        _engines.clear()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTINGS_NAME:
        clear_engine_cache()
