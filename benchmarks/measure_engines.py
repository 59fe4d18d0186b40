"""Measurements quoted in docs/engines.md; run from the repository root.

    python -m benchmarks.measure_engines memory [--minutes 60] [--rate 44100 --channels 2]
    python -m benchmarks.measure_engines probe
    python -m benchmarks.measure_engines threads
    python -m benchmarks.measure_engines wer

``memory`` builds an hour-long CBR mp3 (a one-minute piece of speech, tone and silence,
repeated: mp3 frames concatenate), then in a fresh process plans its chunks and
decodes/encodes each chunk, reporting peak RSS above the process's baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "samples" / "speech_en.ogg"


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def rss_mib() -> float:
    return _status_mib("VmRSS")


def peak_rss_mib() -> float:
    # VmHWM, not getrusage's ru_maxrss: the latter survives exec, so a child would
    # inherit the peak of the parent that built the test file.
    return _status_mib("VmHWM")


def hour_long_mp3(folder: Path, minutes: int, rate: int, channels: int) -> Path:
    import av
    import numpy as np

    from tests.fixtures.audio import samples
    from transcription_platform.engines.audio import AudioClip

    speech = AudioClip(str(SPEECH)).pcm()  # 16 kHz; resampled below by the encoder
    piece = folder / "piece.mp3"
    layout = "stereo" if channels == 2 else "mono"
    with av.open(
        str(piece), "w", format="mp3", options={"write_xing": "0", "id3v2_version": "0"}
    ) as output:
        stream = output.add_stream("libmp3lame", rate=rate, layout=layout)
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        tone = np.concatenate(list(samples([(20.0, 330.0), (4.0, None)], 16_000)))
        pcm = np.concatenate([speech[: 36 * 16_000], tone])[: 60 * 16_000]
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 16_000, 0
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    path = folder / f"{minutes}min.mp3"
    data = piece.read_bytes()
    with open(path, "wb") as out:
        for _ in range(minutes):
            out.write(data)
    return path


def memory_child(path: str, chunk_seconds: float) -> dict:
    from transcription_platform.engines.audio import plan_chunks, probe

    probe(path)
    baseline = rss_mib()
    started = time.perf_counter()
    clips = plan_chunks(path, chunk_seconds)
    plan_seconds = time.perf_counter() - started
    plan_peak = peak_rss_mib() - baseline
    longest = max(clips, key=lambda c: c.end - c.start)
    started = time.perf_counter()
    pcm_samples = len(longest.pcm())
    pcm_seconds = time.perf_counter() - started
    encoded = len(longest.encode("mp3", max_bytes=25 * 1024 * 1024))
    return {
        "duration_s": clips[-1].end,
        "chunks": len(clips),
        "baseline_rss_mib": round(baseline, 1),
        "plan_seconds": round(plan_seconds, 1),
        "plan_peak_above_baseline_mib": round(plan_peak, 1),
        "chunk_pcm_seconds": round(pcm_seconds, 1),
        "chunk_pcm_mib": round(pcm_samples * 4 / 2**20, 1),
        "peak_above_baseline_mib": round(peak_rss_mib() - baseline, 1),
        "encoded_chunk_bytes": encoded,
        "full_decode_would_need_mib": round(clips[-1].end * 16_000 * 4 / 2**20, 1),
    }


def measure_memory(minutes: int, rate: int, channels: int, chunk_seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = hour_long_mp3(Path(tmp), minutes, rate, channels)
        code = (
            "import json, sys; from benchmarks.measure_engines import memory_child; "
            f"print(json.dumps(memory_child({str(path)!r}, {chunk_seconds})))"
        )
        output = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        result = json.loads(output.strip().splitlines()[-1])
        result["file_mib"] = round(os.path.getsize(path) / 2**20, 1)
        return result


def measure_probe() -> dict:
    from tests.fixtures.audio import FORMATS, write_audio
    from transcription_platform.engines.audio import probe

    timings = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ext in FORMATS:
            path = write_audio(Path(tmp) / f"p.{ext}", [(30.0, 440.0)])
            probe(path)
            runs = []
            for _ in range(20):
                started = time.perf_counter()
                probe(path)
                runs.append(time.perf_counter() - started)
            timings[ext] = round(sorted(runs)[len(runs) // 2] * 1000, 2)
    return {"median_probe_ms": timings}


def measure_threads() -> dict:
    from transcription_platform.engines.audio import AudioClip
    from transcription_platform.engines.faster_whisper import FasterWhisperEngine

    clip = AudioClip(str(SPEECH))
    result = {}
    for threads in (1, 2):
        engine = FasterWhisperEngine(alias=f"t{threads}", cpu_threads=threads)
        engine.transcribe(AudioClip(str(SPEECH), 0.0, 3.0))  # load + warm up
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            engine.transcribe(clip)
            runs.append(time.perf_counter() - started)
        result[f"cpu_threads={threads}"] = {
            "best_s": round(min(runs), 2),
            "realtime_factor": round(clip.duration / min(runs), 1),
        }
    return result


def transcribe_child(threads: int, repeats: int) -> None:
    from transcription_platform.engines.audio import AudioClip
    from transcription_platform.engines.faster_whisper import FasterWhisperEngine

    engine = FasterWhisperEngine(cpu_threads=threads)
    engine.load()
    for _ in range(repeats):
        engine.transcribe(AudioClip(str(SPEECH)))


def measure_throughput(workers: int = 2, repeats: int = 2) -> dict:
    """Wall time for ``workers`` processes each transcribing the sample ``repeats`` times
    (model loading, about 0.5 s per process, included)."""
    result = {}
    for threads in (1, 2):
        code = (
            "from benchmarks.measure_engines import transcribe_child; "
            f"transcribe_child({threads}, {repeats})"
        )
        started = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT) for _ in range(workers)]
        for proc in procs:
            proc.wait()
        elapsed = time.perf_counter() - started
        audio = workers * repeats * 36.2
        result[f"{workers} workers x cpu_threads={threads}"] = {
            "wall_s": round(elapsed, 1),
            "audio_s_per_wall_s": round(audio / elapsed, 1),
        }
    return result


def measure_wer() -> dict:
    from tests.fixtures.wer import wer
    from transcription_platform.engines.audio import AudioClip
    from transcription_platform.engines.faster_whisper import FasterWhisperEngine

    reference = (ROOT / "samples" / "speech_en.txt").read_text()
    text = FasterWhisperEngine().transcribe(AudioClip(str(SPEECH))).text
    return {"wer": round(wer(reference, text), 4), "hypothesis": text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["memory", "probe", "threads", "wer"])
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--rate", type=int, default=44_100)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--chunk-seconds", type=float, default=600.0)
    args = parser.parse_args()
    if args.what == "memory":
        result = measure_memory(args.minutes, args.rate, args.channels, args.chunk_seconds)
    elif args.what == "probe":
        result = measure_probe()
    elif args.what == "threads":
        result = {"single_process": measure_threads(), "throughput": measure_throughput()}
    else:
        result = measure_wer()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
