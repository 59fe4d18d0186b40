"""The analyzer interface: what goes in (a transcript), what comes out (an analysis).

An analyzer turns a saved transcript into a summary, topics and action items. Backends
subclass :class:`Analyzer` and implement :meth:`Analyzer.analyze_transcript`; input
checking, the empty-transcript case and option validation happen here, once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from transcription_platform.conf import SETTINGS_NAME
from transcription_platform.exceptions import (
    ConfigurationError,
    ServiceUnavailable,
    TranscriptionPlatformError,
    ValidationError,
)

# --------------------------------------------------------------------------- errors


class AnalysisError(TranscriptionPlatformError):
    """Base of every analyzer error.

    ``analyzer`` names the configured alias; ``provider_status`` is the HTTP status
    the provider answered with, if any; ``usage`` holds the tokens spent before the
    failure (they are billed all the same), when the backend knows them.
    """

    status_code = 502
    code = "analysis_error"
    default_message = "The transcript could not be analysed."

    def __init__(
        self,
        message: str | None = None,
        *,
        analyzer: str | None = None,
        provider_status: int | None = None,
        usage: Usage | None = None,
        **kw: Any,
    ) -> None:
        self.analyzer = analyzer
        self.provider_status = provider_status
        self.usage = usage
        super().__init__(message, **kw)


class RetryableAnalysisError(AnalysisError, ServiceUnavailable):
    """A transient failure (rate limit, 5xx, timeout): run the analysis again later.

    ``retry_after`` is the delay in seconds the provider asked for, or None.
    """

    status_code = 503
    code = "analysis_unavailable"
    default_message = "The analysis service is temporarily unavailable."

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **kw: Any
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class PermanentAnalysisError(AnalysisError):
    """A failure that retrying the same request will not fix (bad output, auth, refusal).

    Stable codes: ``analysis_failed`` (generic), ``analysis_invalid_output``,
    ``analysis_auth_failed``, ``analysis_quota_exceeded``, ``analysis_rejected``,
    ``analysis_refused``, ``invalid_transcript``.
    """

    code = "analysis_failed"
    default_message = "The transcript could not be analysed."


class InvalidTranscriptError(PermanentAnalysisError, ValidationError):
    """The transcript handed to ``analyze`` is not text plus well-formed segments."""

    status_code = 400
    code = "invalid_transcript"
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
    and holds validated :class:`Segment` objects. With segments but no text, the text
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
        """Inverse of :meth:`to_dict`; missing keys take their empty defaults."""
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


class Analyzer:
    """Base class of analyzer backends, configured like a ``CACHES`` entry.

    Subclasses list the options they accept in ``default_options`` and implement
    :meth:`analyze_transcript`; callers use :meth:`analyze`.
    """

    #: Options this backend accepts and their defaults; any other key is an error.
    default_options: ClassVar[dict[str, Any]] = {}

    def __init__(self, alias: str = "default", options: Mapping[str, Any] | None = None) -> None:
        self.alias = alias
        given = dict(options or {})
        unknown = sorted(set(given) - set(self.default_options))
        if unknown:
            raise self.option_error(
                unknown[0],
                f"is not an option of {type(self).__name__} "
                f"(known: {', '.join(sorted(self.default_options)) or 'none'})",
            )
        self.options = {**self.default_options, **given}

    @property
    def model_name(self) -> str:
        """The model recorded on results (priced by the billing app)."""
        raise NotImplementedError

    def option_error(self, key: str, problem: str) -> ConfigurationError:
        """A ConfigurationError (an ImproperlyConfigured) naming the exact key that is wrong."""
        return ConfigurationError(
            f"{SETTINGS_NAME}['ANALYZERS'][{self.alias!r}]['OPTIONS'][{key!r}] {problem}."
        )

    def positive_number(self, key: str, *, integer: bool = False) -> float:
        """The option ``key``, checked to be a positive number (an int if ``integer``)."""
        value = self.options[key]
        types = int if integer else int | float
        if isinstance(value, bool) or not isinstance(value, types) or value <= 0:
            raise self.option_error(key, f"must be a positive {'int' if integer else 'number'}")
        return value

    def analyze(
        self, transcript: Any, *, language: str | None = None, api_key: str | None = None
    ) -> AnalysisResult:
        """Analyse ``transcript`` (see :meth:`TranscriptInput.coerce` for accepted forms).

        ``language`` is the transcript's language code if known; ``api_key`` a
        per-call provider key (the owner's own) that wins over the site's.
        Raises :class:`RetryableAnalysisError` or :class:`PermanentAnalysisError`.
        """
        data = TranscriptInput.coerce(transcript)
        if language is not None and not isinstance(language, str):
            raise InvalidTranscriptError("language must be a language code string.")
        if not data.text.strip():
            # Silence transcribes to nothing; there is nothing to pay a model for.
            return AnalysisResult(summary="", model=self.model_name)
        return self.analyze_transcript(data, language=language or None, api_key=api_key)

    def analyze_transcript(
        self, transcript: TranscriptInput, *, language: str | None, api_key: str | None
    ) -> AnalysisResult:
        """Analyse a validated, non-empty transcript."""
        raise NotImplementedError
