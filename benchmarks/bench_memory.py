"""4. Worker peak RSS while processing a 60-minute file with the local engine.

The file (the sample repeated to an hour) is uploaded through the API and processed
by a fresh 2-worker cluster. Peak RSS is the kernel's high-water mark (``VmHWM``) of
each cluster process; the worker that transcribed is the largest. Its idle size
before the job (Django loaded, no model yet) is reported beside it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from benchmarks import harness

SECONDS = 3600


def run(base_url: str, workdir: Path, seconds: float = SECONDS) -> dict[str, Any]:
    audio, _reference = harness.speech_file(workdir / f"speech-{seconds:.0f}s.flac", seconds)
    user = harness.bench_user("memory")
    token = harness.access_token(user)
    load = [os.getloadavg()[0]]
    with harness.qcluster(workdir / "qcluster-memory.log") as cluster:
        harness.wait_for_cluster(cluster)
        idle = [harness.status_kib(pid, "VmRSS") or 0 for pid in cluster.members()]
        sampler = harness.MemorySampler(cluster)
        sampler.start()
        start = time.perf_counter()
        created = harness.upload(base_url, token, audio, language="en")
        harness.wait_until_finished(base_url, token, created["id"], timeout=3 * seconds)
        wall = time.perf_counter() - start
        memory = sampler.finish()
    load.append(os.getloadavg()[0])

    from transcription_platform.transcriptions.models import Transcription

    row = Transcription.objects.get(pk=created["id"])
    return {
        "audio_seconds": seconds,
        "file_mib": round(audio.stat().st_size / 2**20, 1),
        "chunks": row.chunks.count(),
        "wall_seconds": round(wall, 1),
        "load_average_1min": [round(value, 2) for value in load],
        "largest_idle_process_rss_mib": round(max(idle) / 1024, 1),
        **memory,
    }
