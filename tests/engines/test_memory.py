"""Bounded memory: planning and decoding an hour of audio never holds it all decoded."""

from __future__ import annotations

import pytest

from benchmarks.measure_engines import measure_memory


@pytest.mark.integration
def test_sixty_minutes_plan_and_chunk_decode_in_bounded_memory():
    # Runs in a fresh process; the figures are VmHWM (peak RSS) above the process's
    # RSS after imports. Measured on the CI machine: +5 MiB to plan, +36 MiB at peak
    # (one 10-minute chunk as float32 is 32.5 MiB); decoding it all would take 220 MiB.
    result = measure_memory(minutes=60, rate=16_000, channels=1, chunk_seconds=600)
    assert result["duration_s"] == pytest.approx(3600, abs=10)
    assert result["chunks"] == 7
    assert result["plan_peak_above_baseline_mib"] < 25
    assert result["peak_above_baseline_mib"] < result["chunk_pcm_mib"] + 25
    assert result["peak_above_baseline_mib"] < result["full_decode_would_need_mib"] / 3
    assert result["encoded_chunk_bytes"] < 25 * 1024 * 1024
