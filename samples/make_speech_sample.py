"""Regenerate samples/speech_en.ogg from samples/speech_en.txt (espeak-ng + PyAV).

Run from the repository root: ``python samples/make_speech_sample.py``. The output is
16 kHz mono Opus at 24 kbit/s in an Ogg container; see samples/README.md.
"""

import shutil
import subprocess
import tempfile
from pathlib import Path

import av

HERE = Path(__file__).resolve().parent
VOICE, WORDS_PER_MINUTE, SENTENCE_GAP = "en-us", 150, 10  # gap in units of 10 ms


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        espeak = shutil.which("espeak-ng")
        if espeak is None:
            raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng).")
        text = HERE / "speech_en.txt"
        argv = [espeak, "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-g", str(SENTENCE_GAP)]
        subprocess.run([*argv, "-f", str(text), "-w", str(wav)], check=True)  # noqa: S603
        with av.open(str(wav)) as source, av.open(str(HERE / "speech_en.ogg"), "w") as out:
            stream = out.add_stream("libopus", rate=16000, layout="mono")
            stream.codec_context.bit_rate = 24_000
            resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
            for frame in source.decode(audio=0):
                for resampled in resampler.resample(frame):
                    for packet in stream.encode(resampled):
                        out.mux(packet)
            for packet in stream.encode(None):
                out.mux(packet)


if __name__ == "__main__":
    main()
