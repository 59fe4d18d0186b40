"""Pluggable transcript analyzers, configured like Django's ``CACHES``::

    TRANSCRIPTION_PLATFORM = {
        "ANALYZERS": {
            "default": {
                "BACKEND": "transcription_platform.analysis.analyzers.openai.OpenAIAnalyzer",
                "OPTIONS": {"model": "gpt-4o-mini"},
            },
        },
        "DEFAULT_ANALYZER": "default",
    }

Then, where a transcript is to be analysed::

    from transcription_platform.analysis.analyzers import get_analyzer

    result = get_analyzer().analyze({"text": ..., "segments": [...]}, language="en")
    result.to_dict()  # JSON to store

See docs/analysis.md for the backends, their options and the errors they raise.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from transcription_platform.analysis.analyzers.base import (
    ActionItem,
    AnalysisError,
    AnalysisResult,
    Analyzer,
    InvalidTranscriptError,
    PermanentAnalysisError,
    RetryableAnalysisError,
    Segment,
    Topic,
    TranscriptInput,
    Usage,
)
from transcription_platform.conf import SETTINGS_NAME, settings
from transcription_platform.exceptions import ConfigurationError

__all__ = [
    "ActionItem",
    "AnalysisError",
    "AnalysisResult",
    "Analyzer",
    "InvalidTranscriptError",
    "PermanentAnalysisError",
    "RetryableAnalysisError",
    "Segment",
    "Topic",
    "TranscriptInput",
    "Usage",
    "analyzer_names",
    "get_analyzer",
]

_ENTRY_KEYS = {"BACKEND", "OPTIONS"}
_lock = threading.Lock()
_instances: dict[str, Analyzer] = {}


def analyzer_names() -> list[str]:
    """The configured analyzer aliases, in settings order."""
    return list(settings.ANALYZERS)


def get_analyzer(name: str | None = None) -> Analyzer:
    """The analyzer configured under ``name`` (``DEFAULT_ANALYZER`` when None).

    Instances are built once per process and dropped when the settings change.
    A missing or malformed entry raises ConfigurationError (an ImproperlyConfigured)
    naming the key.
    """
    alias = settings.DEFAULT_ANALYZER if name is None else name
    with _lock:
        analyzer = _instances.get(alias)
        if analyzer is None:
            analyzer = _instances[alias] = _build(alias)
    return analyzer


def _build(alias: str) -> Analyzer:
    key = f"{SETTINGS_NAME}[{'ANALYZERS'!r}][{alias!r}]"
    entry = settings.ANALYZERS.get(alias)
    if entry is None:
        known = ", ".join(map(repr, settings.ANALYZERS)) or "none"
        raise ConfigurationError(f"{key} is not configured (configured analyzers: {known}).")
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{key} must be a dict with BACKEND and OPTIONS.")
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise ConfigurationError(f"{key} has unknown key(s) {', '.join(unknown)}.")
    backend = entry.get("BACKEND")
    if not isinstance(backend, str) or not backend:
        raise ConfigurationError(f"{key}['BACKEND'] must be a dotted path to an Analyzer.")
    options = entry.get("OPTIONS")
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ConfigurationError(f"{key}['OPTIONS'] must be a dict.")
    try:
        cls = import_string(backend)
    except ImportError as exc:
        raise ConfigurationError(f"{key}['BACKEND'] cannot be imported: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Analyzer)):
        raise ConfigurationError(f"{key}['BACKEND'] {backend!r} is not an Analyzer subclass.")
    return cls(alias, options)


@receiver(setting_changed)
def _drop_analyzers(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTINGS_NAME:
        with _lock:
            _instances.clear()
