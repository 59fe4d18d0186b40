"""Speech-to-text over the OpenAI audio API — and every server that speaks it.

One class for OpenAI (whisper-1, gpt-4o-transcribe, gpt-4o-mini-transcribe), Mistral
(voxtral-mini-latest), Groq, speaches or vLLM: set ``base_url``. Whisper-family models
are asked for ``verbose_json`` with segment and word timestamps; models that only
answer ``json`` (the gpt-4o family, Voxtral) give one segment per chunk, which is why
chunks stay short enough for useful timestamps.

Clients and error classification come from `transcription_platform.openai_client`
(shared with the OpenAI analyzer): the SDK's own retries are off and the pipeline
reschedules a chunk after a retryable error, guided by its ``retry_after``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import openai

from transcription_platform.conf import MiB
from transcription_platform.engines.audio import MIME_TYPES, AudioClip
from transcription_platform.engines.base import (
    ProgressCallback,
    SpeechEngine,
    wait_unless_stopped,
)
from transcription_platform.engines.errors import RetryableEngineError, engine_error
from transcription_platform.engines.languages import normalize_language
from transcription_platform.engines.results import (
    Segment,
    TranscriptResult,
    Usage,
    Word,
    fit_to_words,
)
from transcription_platform.openai_client import classify, create_client
from transcription_platform.retry import retry_after_seconds

__all__ = [
    "OPENAI_MAX_UPLOAD_BYTES",
    "OpenAIEngine",
    "parse_transcription",
    "retry_after_seconds",
    "supports_verbose_json",
]

OPENAI_MAX_UPLOAD_BYTES = 25 * MiB
RESPONSE_FORMATS = frozenset({"json", "verbose_json"})


def supports_verbose_json(model: str) -> bool:
    """Whisper-family models return segments and words; gpt-4o-* and Voxtral do not."""
    return "whisper" in model.lower()


class OpenAIEngine(SpeechEngine):
    """Transcribe through an OpenAI-compatible ``/audio/transcriptions`` endpoint.

    OPTIONS: ``model`` (default ``"whisper-1"``), ``base_url`` (default: the SDK's,
    i.e. ``OPENAI_BASE_URL`` or api.openai.com), ``api_key`` (default: the
    ``OPENAI_API_KEY`` environment variable; a per-call key wins), ``timeout``
    (seconds per request), ``response_format`` (``"verbose_json"`` or ``"json"``;
    default chosen from the model), ``upload_format`` (``"mp3"``, ``"ogg"``, ``"flac"``,
    ``"wav"``), ``max_upload_bytes`` (25 MiB), ``chunk_seconds`` (600),
    ``languages`` (None = any), ``parallel_chunks`` (True), ``extra_body`` (extra
    form fields for provider-specific parameters).
    """

    backend_name = "openai"

    def __init__(
        self,
        alias: str = "default",
        *,
        model: str = "whisper-1",
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
        response_format: str | None = None,
        upload_format: str = "mp3",
        max_upload_bytes: int = OPENAI_MAX_UPLOAD_BYTES,
        chunk_seconds: float = 600.0,
        languages: Iterable[str] | None = None,
        parallel_chunks: bool = True,
        extra_body: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(alias)
        self.model = model
        self.base_url = base_url
        self.api_key = api_key
        self.timeout = float(timeout)
        self.response_format = response_format or (
            "verbose_json" if supports_verbose_json(model) else "json"
        )
        if self.response_format not in RESPONSE_FORMATS:
            raise self.option_error(
                "response_format",
                f"must be one of {sorted(RESPONSE_FORMATS)}, got {self.response_format!r}",
            )
        if upload_format not in MIME_TYPES:
            raise self.option_error(
                "upload_format", f"must be one of {sorted(MIME_TYPES)}, got {upload_format!r}"
            )
        self.upload_format = upload_format
        self.max_upload_bytes = int(max_upload_bytes)
        self.default_chunk_seconds = float(chunk_seconds)
        self.languages = frozenset(languages) if languages is not None else None
        self.parallel_chunks = bool(parallel_chunks)
        self.word_timestamps = self.response_format == "verbose_json"
        self.extra_body = dict(extra_body or {})

    def transcribe(
        self,
        clip: AudioClip,
        *,
        language: str | None = None,
        prompt: str | None = None,
        api_key: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> TranscriptResult:
        self.check_language(language)
        data = self.read_upload(clip, self.upload_format)
        params: dict[str, Any] = {"model": self.model, "response_format": self.response_format}
        if self.response_format == "verbose_json":
            params["timestamp_granularities"] = ["segment", "word"]
        if language:
            params["language"] = language
        if prompt:
            params["prompt"] = prompt
        upload = (f"chunk.{self.upload_format}", data, MIME_TYPES[self.upload_format])

        def request() -> Any:
            client = create_client(
                api_key=api_key or self.api_key, base_url=self.base_url, timeout=self.timeout
            )
            with client:
                return client.audio.transcriptions.create(
                    file=upload, extra_body=self.extra_body or None, **params
                )

        try:
            # A cancelled job's worker stops waiting for the provider within a poll.
            response = wait_unless_stopped(request, progress)
        except openai.OpenAIError as exc:
            raise engine_error(classify(exc), self.alias) from exc
        result = self._parsed(response, clip, language)
        if progress is not None:
            progress(1.0)  # one request per clip: done when it answers
        return result

    def _parsed(self, response: Any, clip: AudioClip, language: str | None) -> TranscriptResult:
        """The SDK's answer as a result; `bad_response` when it is not a transcription."""
        if isinstance(response, str):  # the SDK hands back a body that is not JSON as is
            raise bad_response(self.alias, f"{len(response)} characters of non-JSON text")
        payload = response if isinstance(response, dict) else response.model_dump()
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            raise bad_response(self.alias, "no text field")
        try:
            return parse_transcription(
                payload, model=self.model, duration=clip.duration, language=language
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise bad_response(self.alias, f"malformed {type(exc).__name__}") from exc


def bad_response(engine: str, detail: str) -> RetryableEngineError:
    """The error for an answer that is not a transcription (an HTML error page from a
    proxy, JSON without ``text``): retried, since such answers are usually passing."""
    return RetryableEngineError(
        f"The speech provider answered with something that is not a transcription ({detail}).",
        code="engine_bad_response",
        engine=engine,
    )


def parse_transcription(
    payload: Mapping[str, Any], *, model: str, duration: float, language: str | None = None
) -> TranscriptResult:
    """A ``json`` or ``verbose_json`` transcription body as a `TranscriptResult`."""
    text = str(payload.get("text") or "").strip()
    words = [
        Word(float(w["start"]), float(w["end"]), str(w["word"]).strip())
        for w in payload.get("words") or ()
    ]
    segments: list[Segment] = []
    for raw in payload.get("segments") or ():
        start, end = float(raw["start"]), float(raw["end"])
        segments.append(Segment(len(segments), start, end, str(raw["text"]).strip()))
    if words and segments:
        segments = [fit_to_words(s) for s in _attach_words(segments, words)]
    elif words:
        segments = [Segment(0, words[0].start, words[-1].end, text, tuple(words))]
    elif text:
        # json-only models: the whole chunk is one segment.
        segments = [Segment(0, 0.0, round(duration, 3), text)]
    usage = payload.get("usage") or {}
    audio_seconds = float(usage.get("seconds") or payload.get("duration") or duration)
    return TranscriptResult(
        text=text or " ".join(s.text for s in segments),
        segments=tuple(segments),
        language=normalize_language(payload.get("language")) or language,
        duration=round(duration, 3),
        model=model,
        usage=Usage(
            audio_seconds=round(audio_seconds, 3),
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
        ),
    )


def _attach_words(segments: list[Segment], words: list[Word]) -> list[Segment]:
    """Give each top-level word to the segment that holds its midpoint (or the nearest)."""
    buckets: list[list[Word]] = [[] for _ in segments]
    for word in words:
        middle = (word.start + word.end) / 2
        index = min(
            range(len(segments)),
            key=lambda i: (
                0.0
                if segments[i].start <= middle <= segments[i].end
                else min(abs(segments[i].start - middle), abs(segments[i].end - middle))
            ),
        )
        buckets[index].append(word)
    return [
        Segment(s.id, s.start, s.end, s.text, tuple(bucket))
        for s, bucket in zip(segments, buckets, strict=True)
    ]
