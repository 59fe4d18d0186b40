"""Synthetic speech from known text with espeak-ng: the audio of WER measurements.

Shared by ``samples/make_speech_sample.py`` (the committed samples) and the benchmarks
(``multilingual`` generates German, French and Portuguese speech at each run). Being
synthetic, the audio contains no personal data, and its reference text is exact.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av

#: espeak-ng voice per language (ISO 639-1): the languages the benchmarks measure.
VOICES = {"en": "en-us", "de": "de", "fr": "fr-fr", "pt": "pt"}
WORDS_PER_MINUTE = 150
SENTENCE_GAP = 10  # pause between sentences, in units of 10 ms


class SpeechSynthesisError(RuntimeError):
    """espeak-ng is missing or failed."""


def espeak_wav(text_file: Path, voice: str, wav: Path) -> Path:
    """Speak ``text_file`` with espeak-ng's ``voice`` into ``wav`` (22.05 kHz mono).

    Args:
        text_file: The text, one sentence per line.
        voice: An espeak-ng voice (``"en-us"``, ``"de"``, ``"fr-fr"``, ``"pt"``).
        wav: Where to write the WAV file.

    Returns:
        ``wav``.

    Raises:
        SpeechSynthesisError: espeak-ng is not installed or failed.
    """
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SpeechSynthesisError("espeak-ng is not installed (apt-get install espeak-ng).")
    argv = [espeak, "-v", voice, "-s", str(WORDS_PER_MINUTE), "-g", str(SENTENCE_GAP)]
    completed = subprocess.run(
        [*argv, "-f", str(text_file), "-w", str(wav)], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise SpeechSynthesisError(f"espeak-ng failed: {completed.stderr.strip()}")
    return wav


def encode_ogg(wav: Path, output: Path, bit_rate: int = 24_000) -> Path:
    """Encode ``wav`` as 16 kHz mono Opus in an Ogg container (the samples' format)."""
    with av.open(str(wav)) as source, av.open(str(output), "w") as out:
        stream = out.add_stream("libopus", rate=16000, layout="mono")
        stream.codec_context.bit_rate = bit_rate
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        for frame in source.decode(audio=0):
            for resampled in resampler.resample(frame):
                for packet in stream.encode(resampled):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return output


def speech_sample(text_file: Path, language: str, output: Path) -> Path:
    """``text_file`` spoken in ``language`` (a key of `VOICES`), as Ogg Opus at ``output``."""
    wav = output.with_suffix(".wav")
    try:
        espeak_wav(text_file, VOICES[language], wav)
        return encode_ogg(wav, output)
    finally:
        wav.unlink(missing_ok=True)
