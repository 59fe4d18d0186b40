"""Regenerate samples/speech_<language>.ogg from samples/speech_<language>.txt.

Run from the repository root: ``python samples/make_speech_sample.py [en|de]`` (default
``en``). espeak-ng speaks the text (voice per language in ``benchmarks/speech.py``, 150
words per minute, 100 ms between sentences) and PyAV encodes it as 16 kHz mono Opus at
24 kbit/s in an Ogg container; see samples/README.md.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run as a script: the repository root is not on sys.path

from benchmarks.speech import speech_sample  # noqa: E402


def main() -> None:
    language = sys.argv[1] if len(sys.argv) > 1 else "en"
    speech_sample(HERE / f"speech_{language}.txt", language, HERE / f"speech_{language}.ogg")


if __name__ == "__main__":
    main()
