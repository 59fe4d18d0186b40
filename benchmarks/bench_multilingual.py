"""Multilingual: the packaged offline models on speech generated in German, French, Portuguese.

espeak-ng reads a known text in each language (``samples/speech_<language>.txt``,
seven sentences, about 70 words; English too, as the control) and each packaged model
transcribes it through `FasterWhisperEngine` with its defaults (CPU, int8, one thread,
beam 5, word timestamps): once with the language given, as an upload with
``language=de`` does, and once without, letting the model detect it. tiny.en is English
only: it refuses ``language=de`` (``unsupported_language``), so it is run without a
language — what it would make of such a file.

Each model runs in a fresh process, so its load time (for base: joining its two halves
into an empty cache, verifying every checksum, loading) and peak RSS are its own.

``python -m benchmarks.bench_multilingual model NAME FOLDER`` is that process.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks.speech import VOICES, SpeechSynthesisError, espeak_wav
from benchmarks.wer import word_error_rate

MODELS = ("tiny.en", "base")
LANGUAGES = ("de", "fr", "pt", "en")
SAMPLES = harness.ROOT / "samples"


def generate_speech(folder: Path, languages: tuple[str, ...]) -> dict[str, Path]:
    """Each language's known text spoken by espeak-ng, as WAV files in ``folder``."""
    try:
        return {
            language: espeak_wav(
                SAMPLES / f"speech_{language}.txt", VOICES[language], folder / f"{language}.wav"
            )
            for language in languages
        }
    except SpeechSynthesisError as exc:
        raise harness.BenchmarkError(str(exc)) from exc


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(engine: Any, clip: Any, language: str | None, reference: str) -> dict[str, Any]:
    cpu, start = _cpu_seconds(), time.perf_counter()
    result = engine.transcribe(clip, language=language)
    wall = time.perf_counter() - start
    return {
        "language_given": language,
        "language": result.language,
        "wer": round(word_error_rate(reference, result.text), 4),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(_cpu_seconds() - cpu, 2),
        "real_time_factor": round(result.duration / wall, 1),
        "text": result.text,
    }


def measure_model(name: str, folder: Path) -> dict[str, Any]:
    """Load the packaged model ``name`` and transcribe every WAV in ``folder`` (this process)."""
    from transcription_platform.engines.audio import AudioClip
    from transcription_platform.engines.faster_whisper import FasterWhisperEngine

    cache = folder / f"cache-{name}"  # empty: the first load joins the model
    engine = FasterWhisperEngine(alias=name, bundled_model=name, cache_dir=str(cache))
    start = time.perf_counter()
    engine.load()
    load_seconds = time.perf_counter() - start
    results: dict[str, Any] = {}
    for wav in sorted(folder.glob("*.wav")):
        language = wav.stem
        reference = (SAMPLES / f"speech_{language}.txt").read_text()
        clip = AudioClip(str(wav))
        supported = engine.languages is None or language in engine.languages
        entry = {"audio_seconds": round(clip.pcm().size / 16_000, 1)}
        entry["given"] = _timed(engine, clip, language if supported else None, reference)
        if engine.languages is None:
            entry["detected"] = _timed(engine, clip, None, reference)
        results[language] = entry
    return {
        "model": engine.model,
        "load_seconds": round(load_seconds, 2),
        "peak_rss_mib": round((harness.status_kib_self("VmHWM") or 0) / 1024, 1),
        "languages": results,
    }


def run_model(name: str, folder: Path) -> dict[str, Any]:
    """`measure_model` in a fresh process."""
    result: dict[str, Any] = harness.run_module(
        ["benchmarks.bench_multilingual", "model", name, str(folder)], f"the {name} model"
    )
    return result


def run(workdir: Path, quick: bool = False) -> dict[str, Any]:
    """Generate the speech, then measure each packaged model on it."""
    from transcription_platform.engines import model_packages

    folder = workdir / "multilingual"
    folder.mkdir(parents=True, exist_ok=True)
    languages = ("de",) if quick else LANGUAGES
    generate_speech(folder, languages)
    missing = [
        m.install_line for m in map(model_packages.MODEL_PACKAGES.get, MODELS)
        if m is not None and not model_packages.is_installed(m)
    ]  # fmt: skip
    if missing:
        raise harness.BenchmarkError("packaged models missing: " + "; ".join(missing))
    return {
        "voices": {language: VOICES[language] for language in languages},
        "models": {name: run_model(name, folder) for name in MODELS},
    }


def main(argv: list[str]) -> None:
    if len(argv) == 3 and argv[0] == "model":
        print(json.dumps(measure_model(argv[1], Path(argv[2]))))
        return
    raise SystemExit("usage: python -m benchmarks.bench_multilingual model NAME FOLDER")


if __name__ == "__main__":
    main(sys.argv[1:])
