"""A deterministic, offline speech engine for tests — yours and ours.

Use it in an integrator's test settings the way anymail's test backend is used::

    TRANSCRIPTION_PLATFORM = {"ENGINES": {"default": {
        "BACKEND": "transcription_platform.engines.fake.FakeEngine",
        "OPTIONS": {"latency": 0.0, "failures": ["retryable", None]},
    }}}

It really decodes the clip (so bad audio fails as it would in production, with a
``PermanentEngineError`` carrying the ``InvalidAudio`` code) and derives
the transcript from the audio: one word per non-silent half second, chosen from a small
vocabulary by a hash of the samples, grouped into segments of up to 10 s. The same clip
always gives the same transcript. Set ``text`` to get a known transcript instead,
spread evenly over the clip's sound.

With ``async_mode`` it plays a provider that calls back: ``submit`` transcribes the
clip, keeps the result under a new remote id (``remote_results``) and returns the id;
the job waits until ``POST /callbacks/<alias>/`` names that id, then ``fetch_result``
reads the transcript back — over HTTP from ``result_url`` when it is set (the test's
stand-in for the provider's API, so an upstream failure is a real one), else from
memory.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from transcription_platform.engines.audio import SAMPLE_RATE, AudioClip
from transcription_platform.engines.base import CallbackEvent, ProgressCallback, SpeechEngine
from transcription_platform.engines.error_codes import EngineErrorCode
from transcription_platform.engines.errors import (
    EngineError,
    PermanentEngineError,
    RetryableEngineError,
)
from transcription_platform.engines.results import Segment, TranscriptResult, Usage, Word
from transcription_platform.exceptions import ValidationError

VOCABULARY = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu",
)  # fmt: skip
WORD_SECONDS = 0.5
SEGMENT_SECONDS = 10.0
# A half second whose RMS is under this (about -46 dBFS) is silence: no word.
SILENCE_RMS = 0.005
FAILURE_KINDS = frozenset({"retryable", "permanent"})


class FakeEngine(SpeechEngine):
    """Deterministic transcripts, configurable latency and injected failures.

    OPTIONS:

    ``latency``
        Seconds each ``transcribe`` call sleeps (exercise timeouts, progress, fan-out),
        spread over its segments; ``progress`` is called after each segment, as the
        local engine does.
    ``failures``
        Outcomes of the next calls, consumed one per call by this instance:
        ``"retryable"`` raises `RetryableEngineError`, ``"permanent"`` raises
        `PermanentEngineError`, ``None`` succeeds. ``["retryable", None]``:
        fail once, then work.
    ``fail_on_offsets``
        ``{clip_start_seconds: kind or [kinds...]}``: failures for the chunk starting
        there, consumed one per call for that chunk (parallel fan-out friendly).
    ``retry_after``
        The ``retry_after`` hint carried by injected retryable errors.
    ``text``
        A fixed transcript, spread over the clip instead of the derived words.
    ``async_mode``
        Work as a provider that calls back (``supports_callbacks``); see above.
    ``callback_token``
        The bearer token its callbacks carry.
    ``result_url``
        Where ``fetch_result`` GETs a finished job's transcript (JSON, as
        ``TranscriptResult.to_dict``); ``{remote_id}`` in it is replaced. Empty: from
        memory.
    ``parallel_chunks``, ``chunk_seconds``, ``max_upload_bytes``, ``languages``,
    ``model``, ``task``: the declared capabilities (a ``"translate"`` fake returns the
    same words: it declares the capability, it does not translate).
    """

    backend_name = "fake"
    word_timestamps = True

    def __init__(
        self,
        alias: str = "default",
        *,
        latency: float = 0.0,
        failures: Iterable[str | None] = (),
        fail_on_offsets: Mapping[float, str | Iterable[str]] | None = None,
        retry_after: float | None = None,
        text: str | None = None,
        parallel_chunks: bool = False,
        chunk_seconds: float = 600.0,
        max_upload_bytes: int | None = None,
        languages: Iterable[str] | None = None,
        model: str = "fake-1",
        task: str = "transcribe",
        async_mode: bool = False,
        callback_token: str = "",
        result_url: str = "",
    ) -> None:
        super().__init__(alias)
        self.supports_callbacks = bool(async_mode)
        self.callback_token = callback_token
        self.result_url = result_url
        #: The "provider's" finished jobs: remote id → transcript.
        self.remote_results: dict[str, TranscriptResult] = {}
        self.task = self.validated_task(task, alias)
        self.latency = float(latency)
        self.retry_after = retry_after
        self.text = text
        self.parallel_chunks = bool(parallel_chunks)
        self.default_chunk_seconds = float(chunk_seconds)
        self.max_upload_bytes = max_upload_bytes
        self.languages = frozenset(languages) if languages is not None else None
        self.model = model
        self._failures = list(failures)
        self._offset_failures = {
            round(float(offset), 3): [kinds] if isinstance(kinds, str) else list(kinds)
            for offset, kinds in (fail_on_offsets or {}).items()
        }
        offset_kinds = [k for kinds in self._offset_failures.values() for k in kinds]
        for kind in [*self._failures, *offset_kinds]:
            if kind is not None and kind not in FAILURE_KINDS:
                raise self.option_error(
                    "failures", f"kinds are 'retryable', 'permanent' or None, got {kind!r}"
                )
        self._lock = threading.Lock()
        self.calls: list[AudioClip] = []

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
        with self._lock:
            self.calls.append(clip)
            failure = self._next_failure(clip)
        if failure is not None:
            if self.latency:
                time.sleep(self.latency)
            raise failure
        pcm = self.read_pcm(clip)
        duration = len(pcm) / SAMPLE_RATE
        words = self._words(pcm)
        segments = _group(words)
        # Like a local model: the latency is spent segment by segment, and progress is
        # reported as each one is "decoded" (its end over the clip's duration).
        steps = [min(s.end / duration, 1.0) for s in segments] if duration else []
        for fraction in steps or [1.0]:
            if self.latency:
                time.sleep(self.latency / max(len(steps), 1))
            if progress is not None:
                progress(fraction)
        return TranscriptResult(
            text=" ".join(s.text for s in segments),
            segments=segments,
            language=language or "en",
            duration=round(duration, 3),
            model=self.model,
            usage=Usage(audio_seconds=round(duration, 3)),
        )

    def submit(
        self,
        clip: AudioClip,
        *,
        language: str | None = None,
        prompt: str | None = None,
        api_key: str | None = None,
    ) -> str:
        result = self.transcribe(clip, language=language, prompt=prompt, api_key=api_key)
        remote_id = f"fake-{uuid.uuid4().hex}"
        with self._lock:
            self.remote_results[remote_id] = result
        return remote_id

    def parse_callback(self, payload: Any) -> CallbackEvent:
        # The fake provider's body: {"id": "<remote id>", "status": "completed"|"failed",
        # "error": "<reason, when failed>"}.
        problems: dict[str, str] = {}
        if not isinstance(payload, dict):
            raise ValidationError("The callback body must be a JSON object.", details={})
        remote_id = payload.get("id")
        status = payload.get("status")
        if not isinstance(remote_id, str) or not remote_id:
            problems["id"] = "Required: the remote job id (a non-empty string)."
        if status not in ("completed", "failed"):
            problems["status"] = "Must be 'completed' or 'failed'."
        error = payload.get("error", "")
        if not isinstance(error, str):
            problems["error"] = "Must be a string."
        if problems:
            raise ValidationError("The callback payload is invalid.", details=problems)
        return CallbackEvent(
            remote_id=str(remote_id), failed=status == "failed", error_message=str(error)
        )

    def fetch_result(self, remote_id: str) -> TranscriptResult:
        if not self.result_url:
            with self._lock:
                result = self.remote_results.get(remote_id)
            if result is None:
                raise PermanentEngineError(
                    f"The provider has no job {remote_id!r}.",
                    code=EngineErrorCode.ENGINE_REJECTED,
                    engine=self.alias,
                    provider_status=404,
                )
            return result
        url = self.result_url.replace("{remote_id}", remote_id)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (configured URL)
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RetryableEngineError(
                f"The provider answered {exc.code} for job {remote_id!r}.",
                code=EngineErrorCode.ENGINE_UNAVAILABLE,
                engine=self.alias,
                provider_status=exc.code,
            ) from exc
        except (OSError, ValueError) as exc:
            raise RetryableEngineError(
                f"The provider could not be read for job {remote_id!r}.",
                code=EngineErrorCode.ENGINE_UNAVAILABLE,
                engine=self.alias,
            ) from exc
        return TranscriptResult.from_dict(body)

    def _next_failure(self, clip: AudioClip) -> EngineError | None:
        queue = self._offset_failures.get(round(clip.start, 3))
        kind = queue.pop(0) if queue else (self._failures.pop(0) if self._failures else None)
        if kind == "retryable":
            return RetryableEngineError(
                "Injected retryable failure.",
                code=EngineErrorCode.ENGINE_UNAVAILABLE,
                engine=self.alias,
                retry_after=self.retry_after,
            )
        if kind == "permanent":
            return PermanentEngineError(
                "Injected permanent failure.",
                code=EngineErrorCode.ENGINE_REJECTED,
                engine=self.alias,
            )
        return None

    def _words(self, pcm: np.ndarray) -> list[Word]:
        step = round(WORD_SECONDS * SAMPLE_RATE)
        slots = []
        for index in range(0, len(pcm), step):
            window = pcm[index : index + step]
            if len(window) and float(np.sqrt(np.mean(np.square(window)))) >= SILENCE_RMS:
                slots.append(index / SAMPLE_RATE)
        if self.text is not None:
            tokens = self.text.split()
            if not tokens:
                return []
            slots = slots or [0.0]
            # Spread the fixed words evenly over the sounding half seconds.
            share = len(slots) / len(tokens)
            words = []
            for i, token in enumerate(tokens):
                position = i * share
                start = slots[int(position)] + (position - int(position)) * WORD_SECONDS
                end = start + min(share, 1.0) * WORD_SECONDS * 0.9
                words.append(Word(round(start, 3), round(end, 3), token))
            return words
        # Quantise before hashing so one-ulp decoder differences don't change words.
        digest = hashlib.sha256(np.round(pcm * 1000).astype(np.int16).tobytes()).digest()
        return [
            Word(
                round(t, 3),
                round(t + WORD_SECONDS * 0.9, 3),
                VOCABULARY[digest[i % len(digest)] % len(VOCABULARY)],
            )
            for i, t in enumerate(slots)
        ]


def _group(words: list[Word]) -> tuple[Segment, ...]:
    segments: list[Segment] = []
    current: list[Word] = []
    for word in words:
        if current and word.start - current[0].start >= SEGMENT_SECONDS:
            segments.append(_segment(len(segments), current))
            current = []
        current.append(word)
    if current:
        segments.append(_segment(len(segments), current))
    return tuple(segments)


def _segment(index: int, words: list[Word]) -> Segment:
    return Segment(
        index, words[0].start, words[-1].end, " ".join(w.text for w in words), tuple(words)
    )
