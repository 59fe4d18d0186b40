"""engines.audio on generated fixtures: every accepted format, chunking, encoding."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest

from tests.fixtures.audio import FORMATS, write_audio
from transcription_platform.engines.audio import (
    SAMPLE_RATE,
    AudioClip,
    balanced_chunk_count,
    decoded_duration,
    plan_chunks,
    probe,
    quiet_cuts,
)
from transcription_platform.engines.errors import InvalidAudio

# 2 s silence, 3 s tone, 2 s silence, 3 s tone: onsets at 2.0 and 7.0, total 10.0 s.
PATTERN = [(2.0, None), (3.0, 440.0), (2.0, None), (3.0, 880.0)]


def onsets(pcm: np.ndarray, offset: float = 0.0, threshold: float = 0.1) -> list[float]:
    """Times where the signal goes from silence to sound (20 ms resolution)."""
    frame = SAMPLE_RATE // 50
    loud = [np.abs(pcm[i : i + frame]).max() > threshold for i in range(0, len(pcm) - frame, frame)]
    return [
        round(offset + i * frame / SAMPLE_RATE, 2)
        for i in range(len(loud))
        if loud[i] and (i == 0 or not loud[i - 1])
    ]


@pytest.fixture(scope="module")
def pattern_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats")
    return {ext: write_audio(folder / f"pattern.{ext}", PATTERN) for ext in FORMATS}


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_probe_every_accepted_format(pattern_files, ext):
    _container, _codec, rate, channels, _ = FORMATS[ext]
    info = probe(pattern_files[ext])
    assert info.channels == channels
    # Opus always decodes at 48 kHz, whatever it was fed.
    assert info.sample_rate == (48_000 if "opus" in FORMATS[ext][1] else rate)
    assert info.duration == pytest.approx(10.0, abs=0.1)
    assert info.codec
    assert info.container


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_decode_every_format_to_16k_mono_with_true_timing(pattern_files, ext):
    pcm = AudioClip(str(pattern_files[ext])).pcm()
    assert pcm.dtype == np.float32
    assert pcm.ndim == 1
    # Raw ADTS carries no encoder-delay information: 1024 priming samples (46 ms) remain.
    tolerance = 0.1 if ext == "aac" else 0.03
    assert len(pcm) / SAMPLE_RATE == pytest.approx(10.0, abs=tolerance)
    assert onsets(pcm) == pytest.approx([2.0, 7.0], abs=tolerance)


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_clip_window_decodes_only_that_window_at_exact_offsets(pattern_files, ext):
    clip = AudioClip(str(pattern_files[ext]), start=4.0, end=9.0)
    pcm = clip.pcm()
    assert len(pcm) == 5 * SAMPLE_RATE
    tolerance = 0.1 if ext == "aac" else 0.03
    # Inside the window: tone until 5.0, silence, tone again from 7.0.
    assert onsets(pcm, offset=4.0) == pytest.approx([4.0, 7.0], abs=tolerance)
    assert np.abs(pcm[int(1.3 * SAMPLE_RATE) : int(2.7 * SAMPLE_RATE)]).max() < 0.01


def test_probe_accepts_file_objects_and_restores_position(pattern_files):
    data = pattern_files["mp3"].read_bytes()
    stream = io.BytesIO(data)
    assert probe(stream).duration == pytest.approx(10.0, abs=0.05)
    assert stream.tell() == 0


class CountingFile(io.FileIO):
    """A file that remembers how many bytes were read from it."""

    bytes_read = 0

    def readinto(self, buffer) -> int | None:  # type: ignore[override]
        count = super().readinto(buffer)
        self.bytes_read += count or 0
        return count

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_probe_reads_the_header_not_the_whole_file(tmp_path):
    # Ten minutes of CBR mp3 built from one 10 s piece: mp3 frames concatenate.
    # (How long a probe takes is measured by `python -m benchmarks.measure_engines probe`;
    # here the work itself is checked: bytes read, not seconds.)
    piece = write_audio(
        tmp_path / "piece.mp3", [(10.0, 440.0)], container_options={"write_xing": "0"}
    )
    path = tmp_path / "ten_minutes.mp3"
    path.write_bytes(piece.read_bytes() * 60)
    with CountingFile(path) as handle:
        info = probe(handle)
        # Each piece carries its encoder padding (~34 ms): about 602 s in all.
        assert info.duration == pytest.approx(602.0, abs=0.5)
        # Decoding would read all ~9.6 MB; probing reads the head and a few frames.
        assert handle.bytes_read < path.stat().st_size / 20


def test_stereo_and_any_sample_rate(tmp_path):
    for rate in (8_000, 11_025, 22_050, 44_100, 96_000):
        path = write_audio(tmp_path / f"r{rate}.wav", [(1.0, None), (1.0, 300.0)], rate=rate)
        pcm = AudioClip(str(path)).pcm()
        assert len(pcm) == 2 * SAMPLE_RATE
        assert onsets(pcm) == pytest.approx([1.0], abs=0.03)


def test_plan_chunks_short_file_is_one_clip(pattern_files):
    (clip,) = plan_chunks(pattern_files["flac"], 30)
    assert clip.start == 0.0
    assert clip.end == pytest.approx(10.0, abs=0.01)


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_a_one_clip_plan_keeps_exactly_the_samples_a_decode_of_the_clip_gives(pattern_files, ext):
    (clip,) = plan_chunks(pattern_files[ext], 30, keep_seconds=30)
    assert clip.decoded is not None
    again = AudioClip(clip.path, clip.start, clip.end)
    np.testing.assert_array_equal(clip.pcm(), again.pcm())
    # A window of it is cut where a decode of that window starts and ends.
    window = AudioClip(clip.path, 2.0, 7.0, decoded=clip.decoded)
    decoded_window = AudioClip(clip.path, 2.0, 7.0).pcm()
    assert len(window.pcm()) == len(decoded_window)
    assert onsets(window.pcm(), 2.0) == pytest.approx(onsets(decoded_window, 2.0), abs=0.021)
    # Handed out in blocks (what an encoder reads), contiguous and complete.
    blocks = list(clip.iter_pcm())
    assert [t for t, _ in blocks] == pytest.approx([float(i) for i in range(len(blocks))])
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), again.pcm())
    # The caller may write to what pcm() returns: the kept samples stay as decoded.
    clip.pcm()[:] = 0
    np.testing.assert_array_equal(clip.pcm(), again.pcm())


def test_samples_are_kept_only_for_a_file_of_one_short_clip(pattern_files, tmp_path):
    # Longer than keep_seconds: nothing kept (the pass let go of the samples).
    (clip,) = plan_chunks(pattern_files["flac"], 30, keep_seconds=5)
    assert clip.decoded is None
    # Several clips: none carries samples, however short the file.
    parts = [(20.0, 440.0), (1.0, None), (20.0, 440.0)]
    path = write_audio(tmp_path / "two.flac", parts, rate=16_000, channels=1)
    assert all(c.decoded is None for c in plan_chunks(path, 25, keep_seconds=120))
    # Not asked: not kept.
    assert plan_chunks(pattern_files["flac"], 30)[0].decoded is None


def test_plan_chunks_cuts_inside_silences_and_covers_everything(tmp_path):
    # Tones of 20 s separated by silences at 20-21 s, 41-41.5 s; then 30 s of tone.
    parts = [(20.0, 440.0), (1.0, None), (20.0, 440.0), (0.5, None), (30.0, 440.0)]
    path = write_audio(tmp_path / "long.mp3", parts, rate=16_000, channels=1)
    clips = plan_chunks(path, 25)
    assert next(c.start for c in clips) == 0.0
    assert all(a.end == b.start for a, b in itertools.pairwise(clips))
    assert clips[-1].end == pytest.approx(71.5, abs=0.05)
    assert all(c.end - c.start <= 25 + 1e-9 for c in clips)
    # The first two cuts fall in the silences, shortly before the tone resumes.
    assert 20.6 <= clips[0].end <= 20.95
    assert 41.2 <= clips[1].end <= 41.45
    # No sample lost or duplicated: the clips' PCM adds up to the whole file's.
    whole = len(AudioClip(str(path)).pcm())
    assert sum(len(c.pcm()) for c in clips) == pytest.approx(whole, abs=len(clips))


@pytest.mark.parametrize(
    ("total", "workers", "chunks"),
    [(600, 1, 7), (600, 2, 8), (600, 4, 8), (150, 2, 2), (80, 2, 1), (3600, 2, 40), (610, 3, 9)],
)
def test_balanced_chunk_count_is_a_multiple_of_the_workers(total, workers, chunks):
    assert balanced_chunk_count(total, 90, workers) == chunks


def test_plan_chunks_for_several_workers_makes_a_multiple_of_their_number(tmp_path):
    # 71.5 s with a 40 s maximum is 2 clips; shared by 3 workers, 3 of them, cut in the
    # two silences (20-21 s, 41-41.5 s).
    parts = [(20.0, 440.0), (1.0, None), (20.0, 440.0), (0.5, None), (30.0, 440.0)]
    path = write_audio(tmp_path / "long.flac", parts, rate=16_000, channels=1)
    assert len(plan_chunks(path, 40)) == 2
    clips = plan_chunks(path, 40, multiple_of=3)
    assert len(clips) == 3
    assert 20.6 <= clips[0].end <= 20.95
    assert 41.2 <= clips[1].end <= 41.45
    assert clips[-1].end == pytest.approx(71.5, abs=0.05)
    assert len(plan_chunks(path, 40, multiple_of=2)) == 2


def test_quiet_cuts_split_samples_in_memory_at_silences():
    tone = np.sin(np.arange(20 * SAMPLE_RATE) * 2 * np.pi * 440 / SAMPLE_RATE).astype(np.float32)
    pcm = np.concatenate([tone, np.zeros(SAMPLE_RATE, np.float32), tone])
    (cut,) = quiet_cuts(pcm, 30.0)
    assert 20.0 <= cut <= 21.0
    assert quiet_cuts(pcm[: 10 * SAMPLE_RATE], 30.0) == []


def test_plan_chunks_rejects_a_silly_limit(pattern_files):
    with pytest.raises(ValueError, match="max_chunk_seconds"):
        plan_chunks(pattern_files["wav"], 0)


def test_truncated_mp3_reports_the_real_decoded_length(tmp_path):
    path = write_audio(tmp_path / "whole.mp3", [(60.0, 440.0)], rate=16_000, channels=1)
    truncated = tmp_path / "truncated.mp3"
    data = path.read_bytes()
    truncated.write_bytes(data[: len(data) // 3])
    # The Xing header still claims 60 s...
    assert probe(truncated).duration == pytest.approx(60.0, abs=0.1)
    # ...decoding finds the truth, and the chunk plan uses it.
    assert decoded_duration(truncated) == pytest.approx(20.0, abs=0.5)
    clips = plan_chunks(truncated, 600)
    assert clips[-1].end == pytest.approx(20.0, abs=0.5)


@pytest.mark.parametrize("fmt", ["mp3", "ogg", "flac", "wav"])
def test_encode_for_upload_round_trips(pattern_files, fmt):
    clip = AudioClip(str(pattern_files["wav"]), start=1.0, end=8.0)
    data = clip.encode(fmt)
    decoded = AudioClip(str(_write(pattern_files["wav"].parent / f"enc.{fmt}", data))).pcm()
    assert len(decoded) / SAMPLE_RATE == pytest.approx(7.0, abs=0.08)
    assert onsets(decoded, offset=1.0) == pytest.approx([2.0, 7.0], abs=0.06)


def test_encode_lowers_the_bit_rate_to_fit_the_limit(tmp_path):
    path = write_audio(tmp_path / "minute.wav", [(60.0, 440.0)])
    clip = AudioClip(str(path))
    default = clip.encode("mp3")
    limited = clip.encode("mp3", max_bytes=200_000)
    assert len(default) > 300_000  # 48 kbit/s x 60 s
    assert len(limited) <= 200_000


def test_encode_refuses_what_cannot_fit(tmp_path):
    path = write_audio(tmp_path / "minute.wav", [(60.0, 440.0)])
    with pytest.raises(InvalidAudio) as info:
        AudioClip(str(path)).encode("flac", max_bytes=10_000)
    assert info.value.code == "chunk_too_large"


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_a_legacy_encoded_metadata_tag_does_not_make_the_file_unreadable(tmp_path):
    """A WAV whose INFO title is Latin-1, not UTF-8 (old recorders write such tags).

    PyAV before 19 raises UnicodeDecodeError unless told to ignore metadata errors;
    PyAV 19 dropped that argument. The file must probe and decode on both.
    """
    path = write_audio(tmp_path / "tagged.wav", [(2.0, 440.0)])
    data = bytearray(path.read_bytes())
    title = "Café Müller".encode("latin-1") + b"\0"
    info = b"INFO" + b"INAM" + len(title).to_bytes(4, "little") + title
    data += b"LIST" + len(info).to_bytes(4, "little") + info
    data[4:8] = (len(data) - 8).to_bytes(4, "little")  # RIFF size covers the new chunk
    path.write_bytes(bytes(data))

    info_out = probe(path)
    assert info_out.duration == pytest.approx(2.0, abs=0.05)
    assert decoded_duration(path) == pytest.approx(2.0, abs=0.05)
