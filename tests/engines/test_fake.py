"""FakeEngine: deterministic transcripts from real decoding, latency, injected failures."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.fixtures.audio import write_audio
from transcription_platform.engines import (
    InvalidAudio,
    PermanentEngineError,
    RetryableEngineError,
    stitch,
)
from transcription_platform.engines.audio import AudioClip, plan_chunks
from transcription_platform.engines.fake import FakeEngine
from transcription_platform.exceptions import ConfigurationError

SPEECH = str(Path(__file__).resolve().parents[2] / "samples" / "speech_en.ogg")


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("fake") / "tones.flac"
    return str(write_audio(path, [(1.0, None), (3.0, 440.0), (2.0, None), (2.0, 660.0)]))


def test_transcript_is_deterministic_and_follows_the_sound(tones):
    engine = FakeEngine()
    first = engine.transcribe(AudioClip(tones))
    again = FakeEngine().transcribe(AudioClip(tones))
    assert first == again
    # One word per sounding half second: 3 s + 2 s of tone = 10 words, none in silence.
    assert len(first.words) == 10
    assert all(1.0 <= w.start < 4.0 or 6.0 <= w.start < 8.0 for w in first.words)
    assert first.duration == pytest.approx(8.0, abs=0.01)
    assert first.usage.audio_seconds == pytest.approx(8.0, abs=0.01)
    assert first.model == "fake-1"


def test_different_audio_gives_a_different_transcript(tones):
    speech = FakeEngine().transcribe(AudioClip(SPEECH, 0.0, 8.0))
    assert speech.text != FakeEngine().transcribe(AudioClip(tones)).text


def test_fixed_text_is_spread_over_the_clip(tones):
    result = FakeEngine(text="the quick brown fox").transcribe(AudioClip(tones))
    assert result.text == "the quick brown fox"
    assert [w.text for w in result.words] == ["the", "quick", "brown", "fox"]
    assert result.words[0].start >= 1.0


def test_failures_are_consumed_one_per_call(tones):
    engine = FakeEngine(failures=["retryable", "permanent", None], retry_after=3.0)
    with pytest.raises(RetryableEngineError) as retryable:
        engine.transcribe(AudioClip(tones))
    assert retryable.value.retry_after == 3.0
    with pytest.raises(PermanentEngineError):
        engine.transcribe(AudioClip(tones))
    assert engine.transcribe(AudioClip(tones)).text
    assert engine.transcribe(AudioClip(tones)).text  # list exhausted: success


def test_failures_by_chunk_offset(tones):
    engine = FakeEngine(fail_on_offsets={4.0: ["retryable", "retryable"]})
    second_chunk = AudioClip(tones, 4.0, 8.0)
    assert engine.transcribe(AudioClip(tones, 0.0, 4.0)).text
    for _ in range(2):
        with pytest.raises(RetryableEngineError):
            engine.transcribe(second_chunk)
    assert engine.transcribe(second_chunk).text


def test_latency(tones):
    started = time.perf_counter()
    FakeEngine(latency=0.3).transcribe(AudioClip(tones))
    assert time.perf_counter() - started >= 0.3


def test_bad_audio_fails_like_a_real_engine(tmp_path):
    bogus = tmp_path / "bogus.mp3"
    bogus.write_text("not audio at all " * 20)
    with pytest.raises(PermanentEngineError) as info:
        FakeEngine().transcribe(AudioClip(str(bogus)))
    assert info.value.code == "not_audio"
    assert isinstance(info.value.__cause__, InvalidAudio)


def test_language_restriction_and_bad_options(tones):
    with pytest.raises(PermanentEngineError) as info:
        FakeEngine(languages=["en"]).transcribe(AudioClip(tones), language="de")
    assert info.value.code == "unsupported_language"
    with pytest.raises(ConfigurationError):
        FakeEngine(failures=["sometimes"])


def test_chunked_transcripts_stitch_in_order(tones):
    engine = FakeEngine(chunk_seconds=5.0)
    clips = plan_chunks(tones, engine.default_chunk_seconds)
    assert len(clips) == 2
    assert 4.0 < clips[0].end < 6.0  # cut inside the silence
    merged = stitch([(c.start, engine.transcribe(c)) for c in clips])
    # The second chunk's half-second grid is shifted by the cut: a window may just
    # catch the tone's first milliseconds, so one extra word is possible.
    assert 10 <= len(merged.words) <= 11
    assert all(1.0 <= w.start < 4.0 or 5.5 <= w.start < 8.0 for w in merged.words)
    assert [s.id for s in merged.segments] == list(range(len(merged.segments)))
    assert merged.duration == pytest.approx(8.0, abs=0.01)


def test_progress_is_reported_segment_by_segment(tmp_path):
    # 25 s of sound: three segments of up to 10 s, reported as each is "decoded".
    path = str(write_audio(tmp_path / "long.flac", [(25.0, 440.0), (1.0, None)]))
    seen: list[float] = []
    result = FakeEngine().transcribe(AudioClip(path), progress=seen.append)
    assert len(result.segments) == 3
    assert seen == [pytest.approx(s.end / result.duration, abs=1e-3) for s in result.segments]
    assert 0.0 < seen[0] < seen[1] < seen[2] <= 1.0


def test_progress_on_silence_still_ends_the_clip(tmp_path):
    path = str(write_audio(tmp_path / "silence.flac", [(2.0, None)]))
    seen: list[float] = []
    assert FakeEngine().transcribe(AudioClip(path), progress=seen.append).segments == ()
    assert seen == [1.0]


def test_latency_is_spread_over_the_segments(tmp_path):
    path = str(write_audio(tmp_path / "long.flac", [(25.0, 440.0)]))
    times: list[float] = []
    started = time.perf_counter()
    FakeEngine(latency=0.6).transcribe(
        AudioClip(path), progress=lambda _: times.append(time.perf_counter() - started)
    )
    assert len(times) == 3
    assert times[0] >= 0.2 - 0.01  # a third of the latency before the first report
    assert times[-1] >= 0.6 - 0.01


def test_task_capability():
    assert FakeEngine().task == "transcribe"
    assert FakeEngine(task="translate").task == "translate"
    with pytest.raises(ConfigurationError, match="task"):
        FakeEngine(task="")
