"""Malformed uploads: each gets the right InvalidAudio code, never an unhandled error."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import av
import numpy as np
import pytest

from tests.fixtures.audio import write_audio
from transcription_platform.engines.audio import AudioClip, plan_chunks, probe
from transcription_platform.engines.errors import InvalidAudio
from transcription_platform.exceptions import ValidationError


def png_bytes() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    header = struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not audio " * 100)
    return buffer.getvalue()


def wav_with(valid_wav: bytes, *, channels: int | None = None, rate: int | None = None) -> bytes:
    data = bytearray(valid_wav)
    if channels is not None:
        data[22:24] = struct.pack("<H", channels)
    if rate is not None:
        data[24:28] = struct.pack("<I", rate)
    return bytes(data)


def wav_header_only(valid_wav: bytes) -> bytes:
    at = valid_wav.index(b"data")
    return valid_wav[: at + 8]


def video_only_mp4(path: Path) -> bytes:
    with av.open(str(path), "w") as output:
        video = output.add_stream("mpeg4", rate=1)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = index
            for packet in video.encode(frame):
                output.mux(packet)
        for packet in video.encode(None):
            output.mux(packet)
    return path.read_bytes()


def mpegts_segment(path: Path) -> Path:
    """A valid 0.26 s MPEG-TS audio segment: what an HLS playlist would point at."""
    with av.open(str(path), "w", format="mpegts") as output:
        stream = output.add_stream("mp2", rate=44_100, layout="mono")
        for index in range(10):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, 1152), dtype=np.int16), format="s16", layout="mono"
            )
            frame.sample_rate, frame.pts = 44_100, index * 1152
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    """name -> (file, expected code)."""
    folder = tmp_path_factory.mktemp("bad")
    wav = write_audio(folder / "valid.wav", [(1.0, 440.0)]).read_bytes()
    mp3 = write_audio(folder / "valid.mp3", [(2.0, 440.0)]).read_bytes()
    flac = write_audio(folder / "valid.flac", [(1.0, 440.0)]).read_bytes()
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    segment = mpegts_segment(folder / "server_file.ts")
    cases = {
        "empty.mp3": (b"", "empty_file"),
        "text_renamed.mp3": (b"This is a text file, not audio.\n" * 40, "not_audio"),
        "html_renamed.m4a": (b"<!doctype html><html><body>hi</body></html>", "not_audio"),
        # Image demuxers are not on the allow-list: refused before any stream is read.
        "image.mp3": (png_bytes(), "not_audio"),
        "archive.mp3": (zip_bytes(), "not_audio"),
        "random.wav": (noise, "not_audio"),
        "video_only.mp4": (video_only_mp4(folder / "v.mp4"), "no_audio_stream"),
        "header_only.wav": (wav_header_only(wav), "empty_audio"),
        "zero_channels.wav": (wav_with(wav, channels=0), "invalid_audio_parameters"),
        "absurd_rate.wav": (wav_with(wav, rate=4_000_000_000), "invalid_audio_parameters"),
        "zero_rate.wav": (wav_with(wav, rate=0), "invalid_audio_parameters"),
        "flac_then_garbage.flac": (flac[:200] + noise, "corrupt_audio"),
        "ogg_page_then_garbage.ogg": (b"OggS" + noise, "corrupt_audio"),
        "id3_then_garbage.mp3": (b"ID3\x04\x00\x00\x00\x00\x00\x10" + noise, "corrupt_audio"),
        "mp3_first_300_bytes.mp3": (mp3[:300], "corrupt_audio"),
        # Indirection formats name other files: a server file must never be read.
        "playlist.m3u8": (
            f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{segment}\n#EXT-X-ENDLIST\n".encode(),
            "not_audio",
        ),
        "ffconcat.txt": (
            f"ffconcat version 1.0\nfile '{segment}'\n".encode(),
            "not_audio",
        ),
    }
    written = {}
    for name, (data, code) in cases.items():
        path = folder / name
        path.write_bytes(data)
        written[name] = (path, code)
    return written


CASES = [
    "empty.mp3",
    "text_renamed.mp3",
    "html_renamed.m4a",
    "image.mp3",
    "archive.mp3",
    "random.wav",
    "video_only.mp4",
    "header_only.wav",
    "zero_channels.wav",
    "absurd_rate.wav",
    "zero_rate.wav",
    "flac_then_garbage.flac",
    "ogg_page_then_garbage.ogg",
    "id3_then_garbage.mp3",
    "mp3_first_300_bytes.mp3",
    "playlist.m3u8",
    "ffconcat.txt",
]
NOT_AUDIO = {"not_audio", "no_audio_stream"}


@pytest.mark.parametrize("name", CASES)
def test_probe_gives_the_right_code_and_status(corpus, name):
    path, code = corpus[name]
    with pytest.raises(InvalidAudio) as info:
        probe(path)
    error = info.value
    assert error.code == code
    assert isinstance(error, ValidationError)
    assert error.status_code == (415 if code in NOT_AUDIO else 400)
    assert error.message
    assert "Traceback" not in error.message


@pytest.mark.parametrize("name", CASES)
def test_decoding_paths_fail_cleanly_too(corpus, name):
    path, _code = corpus[name]
    with pytest.raises(InvalidAudio):
        plan_chunks(path, 30)
    with pytest.raises(InvalidAudio):
        AudioClip(str(path)).pcm()


@pytest.mark.parametrize("name", CASES)
def test_file_objects_get_the_same_answer(corpus, name):
    path, code = corpus[name]
    with pytest.raises(InvalidAudio) as info:
        probe(io.BytesIO(path.read_bytes()))
    assert info.value.code == code


def test_wrong_extension_but_valid_audio_is_accepted(tmp_path):
    real_wav = write_audio(tmp_path / "real.wav", [(1.5, 440.0)])
    disguised = tmp_path / "disguised.mp3"
    disguised.write_bytes(real_wav.read_bytes())
    info = probe(disguised)
    assert info.container == "wav"
    assert info.duration == pytest.approx(1.5, abs=0.01)
    assert plan_chunks(disguised, 30)[-1].end == pytest.approx(1.5, abs=0.01)


def test_damage_after_good_audio_keeps_what_decodes(tmp_path):
    mp3 = write_audio(tmp_path / "good.mp3", [(10.0, 440.0)], rate=16_000, channels=1)
    damaged = tmp_path / "damaged.mp3"
    data = mp3.read_bytes()
    damaged.write_bytes(data[: len(data) // 2] + bytes(range(256)) * 40)
    clips = plan_chunks(damaged, 30)
    assert 4.0 < clips[-1].end < 6.0
