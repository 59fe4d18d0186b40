"""The speech-engine interface: one class per provider, chosen by dotted path.

An engine turns one `transcription_platform.engines.audio.AudioClip` into a
`transcription_platform.engines.results.TranscriptResult` whose timestamps are
relative to the clip's start. It declares what it can do as class (or instance)
attributes, so the pipeline can plan without calling it:

``max_upload_bytes``
    Largest file the provider accepts (``None``: no upload, the engine decodes locally).
``word_timestamps``
    Whether segments carry words with their own times.
``languages``
    ISO 639-1 codes it can transcribe (``None``: any).
``parallel_chunks``
    Whether sending chunks concurrently pays off (a remote API: yes; a CPU model that
    already uses every core: no).
``default_chunk_seconds``
    Chunk length used when the ``CHUNK_SECONDS`` setting is ``None``.
``task``
    ``"transcribe"`` (text in the spoken language) or ``"translate"`` (English text, as
    Whisper's translate task gives); the OpenAI-compatible translations endpoint only
    accepts an engine whose task is ``"translate"``.
``supports_callbacks``
    Whether the engine works asynchronously: `SpeechEngine.submit` hands a chunk to
    the provider and returns its remote id, the job waits, and the provider later calls
    ``POST /callbacks/<alias>/`` with ``Authorization: Bearer <callback_token>``; the
    platform reads the payload with `SpeechEngine.parse_callback` and the transcript
    with `SpeechEngine.fetch_result`.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from transcription_platform.conf import settings
from transcription_platform.engines.audio import KEEP_DECODED_SECONDS, AudioClip, plan_chunks
from transcription_platform.engines.errors import InvalidAudio, PermanentEngineError
from transcription_platform.engines.results import TranscriptResult
from transcription_platform.exceptions import ConfigurationError
from transcription_platform.plugins import Plugin

#: ``progress(fraction)``: how much of the clip is transcribed so far, 0.0 to 1.0.
ProgressCallback = Callable[[float], None]


class StopTranscribing(Exception):
    """Raised by the ``progress`` callback when the result is no longer wanted: the job
    was cancelled or deleted, or the chunk was handed to another worker.

    An engine lets it propagate (it derives from neither ``RuntimeError`` nor
    ``ValueError``, which engines turn into their own errors), so a long chunk stops
    within one segment instead of running to its end.
    """


_T = TypeVar("_T")

#: Seconds between two asks of `wait_unless_stopped` whether a request is still wanted.
STOP_POLL_SECONDS = 0.5


def wait_unless_stopped(
    call: Callable[[], _T],
    progress: ProgressCallback | None,
    *,
    poll_seconds: float = STOP_POLL_SECONDS,
) -> _T:
    """``call()``'s answer, unless the result stops being wanted while it runs.

    For an engine whose work is one blocking request (a remote API): the request runs
    on a thread of its own while the calling thread reports ``progress(0.0)`` every
    ``poll_seconds``. Such a report writes nothing (progress never goes backwards), but
    the pipeline's callback raises `StopTranscribing` once the job is cancelled or
    deleted, or the chunk handed on: the worker then stops waiting at once and moves
    on. The abandoned request ends on its own (its answer or its timeout) and its answer
    is dropped; it is not interrupted, since the provider has the audio and counts
    it anyway.

    Args:
        call: The request; what it returns or raises is returned or raised here.
        progress: The engine's ``progress`` callback; ``None`` runs ``call`` inline.
        poll_seconds: Seconds between two reports.

    Returns:
        What ``call`` returned.

    Raises:
        StopTranscribing: From ``progress``: the result is no longer wanted.
    """
    if progress is None:
        return call()
    outcome: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:  # handed to the waiting thread, raised there
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="tp-engine-request", daemon=True).start()
    while not done.wait(poll_seconds):
        progress(0.0)
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value  # type: ignore[no-any-return]


#: What an engine can be configured to produce (the ``task`` capability).
TASKS = ("transcribe", "translate")


@dataclass(frozen=True)
class CallbackEvent:
    """What a provider's callback says about one remote job (`SpeechEngine.parse_callback`).

    Attributes:
        remote_id: The id `SpeechEngine.submit` returned for the job.
        failed: The provider reports the job failed (no result to fetch).
        error_message: The provider's reason when ``failed``, for the user.
    """

    remote_id: str
    failed: bool = False
    error_message: str = ""


class SpeechEngine(Plugin):
    """Base class of every speech engine; subclasses implement `transcribe`.

    The plugin convention (`transcription_platform.plugins`): ``__init__(self,
    alias="default", *, <options>)`` calling ``super().__init__(alias)``; unknown
    ``OPTIONS`` are reported by `transcription_platform.engines.get_engine`.
    Instances are shared by every job of a worker process, so ``transcribe`` must be
    thread-safe and keep no per-job state.
    """

    setting = "ENGINES"

    #: Short identifier of the implementation, recorded with each transcript.
    backend_name: ClassVar[str] = "base"
    max_upload_bytes: int | None = None
    word_timestamps: bool = False
    languages: frozenset[str] | None = None
    parallel_chunks: bool = False
    default_chunk_seconds: float = 600.0
    task: str = "transcribe"
    model: str = ""
    supports_callbacks: bool = False
    #: The bearer token the provider's callbacks must present (an engine OPTION; never
    #: logged). Empty: callbacks are refused.
    callback_token: str = ""

    @property
    def name(self) -> str:
        """The engine's alias (``Transcription.engine`` stores it under this name)."""
        return self.alias

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias!r} model={self.model!r}>"

    def transcribe(
        self,
        clip: AudioClip,
        *,
        language: str | None = None,
        prompt: str | None = None,
        api_key: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> TranscriptResult:
        """Transcribe ``clip``; timestamps in the result are relative to ``clip.start``.

        Args:
            clip: The audio to transcribe.
            language: ISO 639-1 code of the speech, or None to detect it.
            prompt: Vocabulary or context for the engine.
            api_key: Overrides the configured key for this call (a user's own key).
            progress: Optional; call it with the fraction of the clip done (0.0 to 1.0)
                as the work advances — a local model after each segment it yields (its
                end time over the clip's duration), a remote API when a request
                returns. It is cheap; calls that go backwards are ignored. It raises
                only `StopTranscribing` (the job was cancelled or deleted): let that
                propagate. Engines written before it existed may omit the parameter.

        Returns:
            The transcript of the clip.

        Raises:
            RetryableEngineError: A transient failure (rate limit, 5xx, timeout).
            PermanentEngineError: Anything else, unusable audio included (its
                ``InvalidAudio`` code is kept).
        """
        raise NotImplementedError

    def submit(
        self,
        clip: AudioClip,
        *,
        language: str | None = None,
        prompt: str | None = None,
        api_key: str | None = None,
    ) -> str:
        """Hand ``clip`` to the provider without waiting (``supports_callbacks`` engines).

        Args:
            clip: The audio to transcribe.
            language: ISO 639-1 code of the speech, or None to detect it.
            prompt: Vocabulary or context for the engine.
            api_key: Overrides the configured key for this call.

        Returns:
            The provider's id for the job; its callback names it.

        Raises:
            RetryableEngineError: A transient failure (the chunk is retried later).
            PermanentEngineError: Anything else.
        """
        raise NotImplementedError

    def parse_callback(self, payload: Any) -> CallbackEvent:
        """Read the provider's callback body (already JSON-decoded).

        Args:
            payload: The decoded JSON body.

        Returns:
            Which remote job it is about and whether it failed.

        Raises:
            transcription_platform.exceptions.ValidationError: The payload is not one
                this provider sends (answered 400 with ``details``).
        """
        raise NotImplementedError

    def fetch_result(self, remote_id: str) -> TranscriptResult:
        """Fetch the transcript of a finished remote job from the provider.

        Args:
            remote_id: The id `submit` returned.

        Returns:
            The transcript, timestamps relative to the submitted clip's start.

        Raises:
            EngineError: The provider failed (``provider_status`` says how); the
                callback is answered 502 and the provider may call again.
        """
        raise NotImplementedError

    def accepts_progress(self) -> bool:
        """Whether `transcribe` takes ``progress``.

        Returns:
            False for third-party engines written before the parameter existed: the
            pipeline then calls them without it and reports progress per chunk only.
        """
        parameters = inspect.signature(self.transcribe).parameters.values()
        return any(
            p.name == "progress" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters
        )

    def read_pcm(self, clip: AudioClip) -> np.ndarray:
        """``clip.pcm()``, unusable audio reported as a permanent engine error."""
        try:
            return clip.pcm()
        except InvalidAudio as exc:
            raise self._audio_error(exc) from exc

    def read_upload(self, clip: AudioClip, fmt: str) -> bytes:
        """``clip`` encoded as ``fmt`` under ``max_upload_bytes``, errors as for read_pcm."""
        try:
            return clip.encode(fmt, max_bytes=self.max_upload_bytes)
        except InvalidAudio as exc:
            raise self._audio_error(exc) from exc

    def _audio_error(self, exc: InvalidAudio) -> PermanentEngineError:
        return PermanentEngineError(exc.message, code=exc.code, engine=self.alias)

    @property
    def chunk_seconds(self) -> float:
        """The chunk length to plan with: the ``CHUNK_SECONDS`` setting or our default."""
        configured: Any = settings.CHUNK_SECONDS
        return float(configured) if configured else float(self.default_chunk_seconds)

    def plan(
        self, path: str, *, max_seconds: float | None = None, workers: int = 1
    ) -> list[AudioClip]:
        """Chunk a local file for this engine (quiet-point cuts, ``chunk_seconds`` max).

        Args:
            path: The audio file.
            max_seconds: Longest audio accepted: planning stops with ``InvalidAudio``
                (``audio_too_long``) as soon as more has decoded. None: no limit.
            workers: Queue workers that will share the chunks. An engine with
                ``parallel_chunks`` cuts a file needing several chunks into a multiple
                of this many, so they all finish together.

        Returns:
            The clips, in order, covering the decoded audio. A file that fits one clip
            of at most `KEEP_DECODED_SECONDS` comes back with its samples
            (`AudioClip.decoded`), so transcribing it does not decode it again.
        """
        return plan_chunks(
            path,
            self.chunk_seconds,
            max_seconds=max_seconds,
            multiple_of=workers if self.parallel_chunks else 1,
            keep_seconds=KEEP_DECODED_SECONDS,
        )

    @staticmethod
    def validated_task(task: str, name: str) -> str:
        """``task`` if it is ``"transcribe"`` or ``"translate"``, else a ConfigurationError.

        Args:
            task: The ``task`` option of an engine.
            name: The engine's alias, named in the error.

        Returns:
            The task.

        Raises:
            ConfigurationError: Any other value.
        """
        if task not in TASKS:
            raise ConfigurationError(
                f"Engine {name!r}: OPTIONS['task'] must be one of {', '.join(TASKS)}, got {task!r}."
            )
        return task

    def check_language(self, language: str | None) -> None:
        """Refuse a language the engine cannot transcribe (a permanent error)."""
        if language is None or self.languages is None or language in self.languages:
            return
        raise PermanentEngineError(
            f"Engine {self.alias!r} ({self.model}) does not support language {language!r}; "
            f"supported: {', '.join(sorted(self.languages))}.",
            code="unsupported_language",
            engine=self.alias,
        )
