"""What an engine returns: a transcript with segments, words, language and usage.

Timestamps are seconds relative to the start of the transcribed clip; `stitch`
shifts them onto the whole file. Everything round-trips through JSON
(`TranscriptResult.to_dict` / `TranscriptResult.from_dict`) because the
pipeline stores each chunk's result and stitches later, maybe in another process.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Usage:
    """What the engine consumed: audio seconds always, tokens when the provider says."""

    audio_seconds: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.audio_seconds + other.audio_seconds,
            _add_optional(self.input_tokens, other.input_tokens),
            _add_optional(self.output_tokens, other.output_tokens),
        )


def _add_optional(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


@dataclass(frozen=True)
class TranscriptResult:
    text: str
    segments: tuple[Segment, ...] = ()
    language: str | None = None
    duration: float = 0.0  # seconds of audio this result covers
    model: str = ""
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TranscriptResult:
        segments = tuple(
            Segment(
                id=int(s["id"]),
                start=float(s["start"]),
                end=float(s["end"]),
                text=str(s["text"]),
                words=tuple(Word(**w) for w in s.get("words") or ()),
            )
            for s in data.get("segments") or ()
        )
        return cls(
            text=str(data.get("text", "")),
            segments=segments,
            language=data.get("language"),
            duration=float(data.get("duration", 0.0)),
            model=str(data.get("model", "")),
            usage=Usage(**(data.get("usage") or {})),
        )

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]


def fit_to_words(segment: Segment) -> Segment:
    """Narrow a segment to its words' span.

    Whisper often starts a segment at the window's start even when speech begins a
    second later; word timestamps come from the alignment and mark the real onset.
    """
    if not segment.words:
        return segment
    start = max(segment.start, min(w.start for w in segment.words))
    end = min(segment.end, max(w.end for w in segment.words))
    if end <= start:
        return segment
    return replace(segment, start=start, end=end)


def stitch(results: list[tuple[float, TranscriptResult]]) -> TranscriptResult:
    """Merge per-chunk results (``(offset, result)`` pairs) into one global transcript.

    Timestamps are shifted by each chunk's offset and clamped inside the chunk's window
    (an engine may report times past the clip's end); segment ids are renumbered 0..n-1.
    A result without segments (a ``json``-only engine) becomes one segment spanning its
    chunk, so its text is never dropped. Chunks do not overlap (cuts fall at quiet
    points), so nothing is duplicated at boundaries.
    """
    ordered = sorted(results, key=lambda pair: pair[0])
    segments: list[Segment] = []
    texts: list[str] = []
    # Seconds of audio per detected language (floats: Counter is typed for counts).
    languages: dict[str, float] = defaultdict(float)
    usage = Usage()
    end_of_audio = 0.0
    for index, (offset, result) in enumerate(ordered):
        next_offset = ordered[index + 1][0] if index + 1 < len(ordered) else math.inf
        window_end = min(offset + result.duration, next_offset) if result.duration else next_offset
        if math.isfinite(window_end):
            end_of_audio = max(end_of_audio, window_end)
        if result.language:
            languages[result.language] += max(result.duration, 1e-6)
        usage = usage + result.usage
        chunk_segments = result.segments or (
            (Segment(0, 0.0, result.duration, result.text),) if result.text.strip() else ()
        )
        for seg in chunk_segments:
            text = seg.text.strip()
            if not text:
                continue
            floor = segments[-1].end if segments else 0.0
            start = _clamp(offset + seg.start, max(offset, floor), window_end)
            end = _clamp(offset + seg.end, start, window_end)
            words = tuple(
                replace(
                    w,
                    start=_clamp(offset + w.start, start, end),
                    end=_clamp(offset + w.end, start, end),
                )
                for w in seg.words
            )
            segments.append(Segment(len(segments), start, end, text, words))
            end_of_audio = max(end_of_audio, end)
            texts.append(text)
    model = next((r.model for _, r in ordered if r.model), "")
    return TranscriptResult(
        text=" ".join(texts),
        segments=tuple(segments),
        language=max(languages, key=languages.__getitem__) if languages else None,
        duration=end_of_audio,
        model=model,
        usage=usage,
    )


def _clamp(value: float, low: float, high: float) -> float:
    return round(min(max(value, low), max(low, high)), 3)
