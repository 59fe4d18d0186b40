"""The analyzer interface: what goes in (a transcript), what comes out (an analysis).

An analyzer turns a saved transcript into a summary, topics and action items. Backends
subclass `Analyzer` and implement `Analyzer.analyze_transcript`; input
checking, the empty-transcript case and option validation happen here, once.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from transcription_platform import providers
from transcription_platform.analysis.error_codes import AnalysisErrorCode
from transcription_platform.exceptions import (
    BackendError,
    PermanentError,
    RetryableError,
    ValidationError,
)
from transcription_platform.plugins import Plugin
from transcription_platform.providers import ProviderFailure

# --------------------------------------------------------------------------- errors


class AnalysisError(BackendError):
    """Base of every analyzer error.

    ``analyzer`` names the configured alias; ``provider_status`` is the HTTP status
    the provider answered with, if any; ``usage`` holds the tokens spent before the
    failure (they are billed all the same), when the backend knows them.
    """

    status_code = 502
    code: str = AnalysisErrorCode.ANALYSIS_ERROR
    default_message = "The transcript could not be analysed."

    def __init__(
        self,
        message: str | None = None,
        *,
        analyzer: str | None = None,
        usage: Usage | None = None,
        **kw: Any,
    ) -> None:
        kw.setdefault("alias", analyzer)
        self.usage = usage
        super().__init__(message, **kw)

    @property
    def analyzer(self) -> str | None:
        """The configured name of the analyzer (its alias)."""
        return self.alias


class RetryableAnalysisError(AnalysisError, RetryableError):
    """A transient failure (rate limit, 5xx, timeout): run the analysis again later.

    ``retry_after`` is the delay in seconds the provider asked for, or None.
    """

    status_code = 503
    code: str = AnalysisErrorCode.ANALYSIS_UNAVAILABLE
    default_message = "The analysis service is temporarily unavailable."


class PermanentAnalysisError(AnalysisError, PermanentError):
    """A failure that retrying the same request will not fix (bad output, auth, refusal).

    Stable codes: ``analysis_failed`` (generic), ``analysis_invalid_output``,
    ``analysis_auth_failed``, ``analysis_quota_exceeded``, ``analysis_rejected``,
    ``analysis_refused``, ``analysis_context_too_long``, ``invalid_transcript``.
    """

    status_code = 502
    code: str = AnalysisErrorCode.ANALYSIS_FAILED
    default_message = "The transcript could not be analysed."


class ContextTooLong(PermanentAnalysisError):
    """The provider said the request exceeds the model's context window."""

    code: str = AnalysisErrorCode.ANALYSIS_CONTEXT_TOO_LONG


def analysis_error(failure: ProviderFailure, analyzer: str) -> AnalysisError:
    """A classified provider failure as a retryable or permanent analysis error.

    Args:
        failure: What went wrong (see `transcription_platform.providers`).
        analyzer: The configured name of the analyzer.

    Returns:
        The error, with this family's code for the failure's kind.
    """
    code = {
        providers.QUOTA_EXCEEDED: AnalysisErrorCode.ANALYSIS_QUOTA_EXCEEDED,
        providers.AUTH_FAILED: AnalysisErrorCode.ANALYSIS_AUTH_FAILED,
        providers.NO_API_KEY: AnalysisErrorCode.ANALYSIS_AUTH_FAILED,
        providers.NOT_FOUND: AnalysisErrorCode.ANALYSIS_REJECTED,
        providers.TOO_LARGE: AnalysisErrorCode.ANALYSIS_REJECTED,
        providers.BAD_REQUEST: AnalysisErrorCode.ANALYSIS_REJECTED,
        providers.CONTEXT_TOO_LONG: AnalysisErrorCode.ANALYSIS_CONTEXT_TOO_LONG,
        providers.UNEXPECTED: AnalysisErrorCode.ANALYSIS_FAILED,
    }.get(failure.kind, AnalysisErrorCode.ANALYSIS_UNAVAILABLE)  # every retryable kind
    permanent = (
        ContextTooLong if failure.kind == providers.CONTEXT_TOO_LONG else PermanentAnalysisError
    )
    error = failure.error(
        retryable=RetryableAnalysisError,
        permanent=permanent,
        code=code,
        alias=analyzer,
        provider="analysis provider",
    )
    return cast(AnalysisError, error)


class InvalidTranscriptError(PermanentAnalysisError, ValidationError):
    """The transcript handed to ``analyze`` is not text plus well-formed segments."""

    status_code = 400
    code: str = AnalysisErrorCode.INVALID_TRANSCRIPT
    default_message = "The transcript is not valid analyzer input."


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class Segment:
    """One timed piece of a transcript (seconds from the start of the audio)."""

    start: float
    end: float
    text: str


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidTranscriptError(f"{where} must be a finite number of seconds.")
    if value < 0:
        raise InvalidTranscriptError(f"{where} must not be negative.")
    return float(value)


def _segment(value: Any, index: int) -> Segment:
    if isinstance(value, Segment):
        return value
    if not isinstance(value, Mapping):
        raise InvalidTranscriptError(
            f"segments[{index}] must be a dict with start, end and text, "
            f"got {type(value).__name__}."
        )
    missing = [key for key in ("start", "end", "text") if key not in value]
    if missing:
        raise InvalidTranscriptError(f"segments[{index}] lacks {', '.join(missing)}.")
    start = _seconds(value["start"], f"segments[{index}].start")
    end = _seconds(value["end"], f"segments[{index}].end")
    if end < start:
        raise InvalidTranscriptError(f"segments[{index}] ends before it starts.")
    if not isinstance(value["text"], str):
        raise InvalidTranscriptError(f"segments[{index}].text must be a string.")
    return Segment(start, end, value["text"])


@dataclass(frozen=True)
class TranscriptInput:
    """A transcript as analyzers see it: the full text and its timed segments.

    ``segments`` accepts the dicts the pipeline stores (``start``, ``end``, ``text``)
    and holds validated `Segment` objects. With segments but no text, the text
    is the segments joined; with text but no segments, nothing can be timed.
    """

    text: str = ""
    segments: tuple[Segment, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise InvalidTranscriptError("text must be a string.")
        if isinstance(self.segments, str | bytes | Mapping) or not hasattr(
            self.segments, "__iter__"
        ):
            raise InvalidTranscriptError("segments must be a list of dicts.")
        segments = tuple(_segment(value, i) for i, value in enumerate(self.segments))
        object.__setattr__(self, "segments", segments)
        if not self.text.strip() and segments:
            joined = " ".join(s.text.strip() for s in segments if s.text.strip())
            object.__setattr__(self, "text", joined)

    @classmethod
    def coerce(cls, value: Any) -> TranscriptInput:
        """A TranscriptInput from itself, a str, a ``{"text", "segments"}`` mapping or
        any object with ``text`` and ``segments`` attributes (a model instance)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return cls(text=value)
        if isinstance(value, Mapping):
            return cls(text=value.get("text") or "", segments=value.get("segments") or ())
        if hasattr(value, "text") or hasattr(value, "segments"):
            return cls(
                text=getattr(value, "text", "") or "",
                segments=getattr(value, "segments", None) or (),
            )
        raise InvalidTranscriptError(
            f"Cannot analyse a {type(value).__name__}: give text and/or segments."
        )


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class Topic:
    label: str
    relevance: float  # 0..1, the strongest topic of a transcript is near 1


@dataclass(frozen=True)
class ActionItem:
    text: str
    owner: str | None = None  # a person named as responsible, never guessed
    due: str | None = None  # the deadline as said ("Friday", "end of the month")
    start: float | None = None  # start (seconds) of the segment where it was said


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens
        )


@dataclass(frozen=True)
class AnalysisResult:
    """What an analyzer returns; ``to_dict()`` is what the pipeline stores as JSON."""

    summary: str
    topics: list[Topic] = field(default_factory=list)
    action_items: list[ActionItem] = field(default_factory=list)
    model: str = ""
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalysisResult:
        """Inverse of `to_dict`; missing keys take their empty defaults."""
        usage = data.get("usage") or {}
        return cls(
            summary=data.get("summary") or "",
            topics=[
                Topic(label=t["label"], relevance=float(t["relevance"]))
                for t in data.get("topics") or ()
            ],
            action_items=[
                ActionItem(
                    text=a["text"], owner=a.get("owner"), due=a.get("due"), start=a.get("start")
                )
                for a in data.get("action_items") or ()
            ],
            model=data.get("model") or "",
            usage=Usage(
                input_tokens=int(usage.get("input_tokens", 0)),
                output_tokens=int(usage.get("output_tokens", 0)),
            ),
        )


# --------------------------------------------------------------------------- backend


class Analyzer(Plugin):
    """Base class of analyzer backends, configured like a ``CACHES`` entry.

    The plugin convention (`transcription_platform.plugins`): ``__init__(self,
    alias="default", *, <options>)`` calling ``super().__init__(alias)``, the provider's
    model in `model`. Implement `analyze_transcript`; callers use
    `analyze`.
    """

    setting = "ANALYZERS"
    #: The model recorded on results (priced by the billing app).
    model: str = ""

    @property
    def model_name(self) -> str:
        """Deprecated spelling of `model` (kept for code written against 0.x)."""
        warnings.warn(
            "Analyzer.model_name is deprecated; use Analyzer.model.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.model

    def analyze(
        self, transcript: Any, *, language: str | None = None, api_key: str | None = None
    ) -> AnalysisResult:
        """Analyse ``transcript`` (see `TranscriptInput.coerce` for accepted forms).

        ``language`` is the transcript's language code if known; ``api_key`` a
        per-call provider key (the owner's own) that wins over the site's.
        Raises `RetryableAnalysisError` or `PermanentAnalysisError`.
        """
        data = TranscriptInput.coerce(transcript)
        if language is not None and not isinstance(language, str):
            raise InvalidTranscriptError("language must be a language code string.")
        if not data.text.strip():
            # Silence transcribes to nothing; there is nothing to pay a model for.
            return AnalysisResult(summary="", model=self.model)
        return self.analyze_transcript(data, language=language or None, api_key=api_key)

    def analyze_transcript(
        self, transcript: TranscriptInput, *, language: str | None, api_key: str | None
    ) -> AnalysisResult:
        """Analyse a validated, non-empty transcript."""
        raise NotImplementedError
