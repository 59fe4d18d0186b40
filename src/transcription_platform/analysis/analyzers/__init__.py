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

from transcription_platform.analysis.analyzers.base import (
    ActionItem,
    AnalysisError,
    AnalysisResult,
    Analyzer,
    ContextTooLong,
    InvalidTranscriptError,
    PermanentAnalysisError,
    RetryableAnalysisError,
    Segment,
    Topic,
    TranscriptInput,
    Usage,
)
from transcription_platform.plugins import Registry

__all__ = [
    "ActionItem",
    "AnalysisError",
    "AnalysisResult",
    "Analyzer",
    "ContextTooLong",
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

#: The ``ANALYZERS`` plugin family (see `transcription_platform.plugins`).
analyzers: Registry[Analyzer] = Registry("ANALYZERS", Analyzer, default_setting="DEFAULT_ANALYZER")


def analyzer_names() -> list[str]:
    """The configured analyzer aliases, in settings order."""
    return analyzers.names()


def get_analyzer(name: str | None = None) -> Analyzer:
    """The analyzer configured under ``name`` (``DEFAULT_ANALYZER`` when None), built
    once per process; see `transcription_platform.plugins.Registry.get`."""
    return analyzers.get(name)
