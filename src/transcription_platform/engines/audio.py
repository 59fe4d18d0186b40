"""Audio with PyAV (FFmpeg inside the wheel): probe, streaming decode, chunking, encoding.

* `probe` answers "is this audio, and what is it?" in milliseconds: it opens the
  container, reads the header and decodes the first packets only.
* `AudioClip` is a window ``[start, end)`` of a local file. `AudioClip.pcm`
  decodes just that window to 16 kHz mono float32 (what Whisper-family models eat);
  `AudioClip.encode` streams it into a compressed file for upload engines.
* `plan_chunks` makes one streaming pass over a file and cuts it at quiet points
  into clips of at most ``max_chunk_seconds``. Its last clip ends at the real decoded
  length, which is shorter than the header's claim for a truncated file.

Timestamps are seconds from the first sample of the audio stream (encoder delay and
container start offsets are removed), the same in every function here. Decoding never
holds more than one clip's PCM in memory; a whole-file pass holds O(1) samples plus a
small energy envelope (4 bytes per 20 ms).
"""

from __future__ import annotations

import array
import io
import itertools
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, NamedTuple, TypedDict

import av
import av.error
import numpy as np

from transcription_platform.engines.error_codes import EngineErrorCode
from transcription_platform.engines.errors import InvalidAudio

SAMPLE_RATE = 16_000
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
MAX_CHANNELS = 64

# Envelope resolution of the quiet-point search.
ENERGY_FRAME_SECONDS = 0.02
# Length of the quiet stretch a cut looks for (a moving average of the envelope).
QUIET_WINDOW_SECONDS = 0.4
# Silence left at the start of a chunk cut inside a long pause.
LEAD_IN_SECONDS = 0.15
# Decode this much before a clip's start so the decoder is primed (mp3 bit reservoir,
# resampler filter), then trim to the exact start.
PREROLL_SECONDS = 0.5
# Demuxers whose seeking is an estimate (by byte rate / without an index): skip packets
# from the start instead, which is fast (no decoding) and exact.
IMPRECISE_SEEK_FORMATS = frozenset({"mp3", "aac", "ac3", "eac3", "mpeg", "mpegts"})
# Demuxers whose header duration is a guess from the first frames' bit rate (ADTS).
ESTIMATED_DURATION_FORMATS = frozenset({"aac"})
# A jump in frame timestamps larger than this is a gap (damaged file): fill with silence
# so later audio keeps its true position.
GAP_TOLERANCE_SECONDS = 0.05
# FFmpeg reads up to 5 MB by default to learn stream parameters (70 ms for a WAV);
# the header of every accepted format is far smaller.
QUICK_PROBE_BYTES = 32_768
# Bytes read to recognise a container FFmpeg refuses.
HEAD_BYTES = 4096
# Packets decoded by probe() before declaring an audio stream undecodable.
PROBE_PACKETS = 64

Source = str | os.PathLike[str] | BinaryIO

#: Demuxers an upload may be read with: real audio/video containers only. FFmpeg's
#: playlist and indirection formats (HLS, DASH, concat, image2, SDP, ...) would open
#: other files or URLs named inside the upload, so they are never probed at all.
ALLOWED_DEMUXERS = (
    "aac", "ac3", "aiff", "amr", "ape", "asf", "au", "avi", "caf", "eac3", "flac",
    "flv", "matroska", "mov", "mp3", "mpeg", "mpegts", "ogg", "w64", "wav", "wv",
)  # fmt: skip
#: Passed to every open: the demuxer allow-list, and no protocol but the file itself.
_SAFE_OPEN_OPTIONS = {
    "format_whitelist": ",".join(ALLOWED_DEMUXERS),
    "protocol_whitelist": "file,pipe",
}


# PyAV before 19 decodes container metadata strictly unless told to ignore errors (a
# tag in a legacy encoding would make the whole file unreadable); PyAV 19 removed the
# argument and no longer fails on such tags.
class _MetadataOptions(TypedDict, total=False):
    metadata_errors: str


_METADATA_KWARGS: _MetadataOptions = (
    {"metadata_errors": "ignore"} if int(av.__version__.split(".")[0]) < 19 else {}
)


@dataclass(frozen=True)
class AudioInfo:
    container: str  # demuxer name, e.g. "mp3", "ogg", "mov,mp4,m4a,3gp,3g2,mj2"
    codec: str
    channels: int
    sample_rate: int
    duration: float  # seconds, as the header says (see plan_chunks for the decoded length)
    bit_rate: int | None


# --------------------------------------------------------------------------- opening


def _open(source: Source, probesize: int | None = None) -> Any:
    """Open ``source`` for demuxing, or raise InvalidAudio (empty / not media / damaged)."""
    head = _read_head(source)
    if not head:
        raise InvalidAudio(EngineErrorCode.EMPTY_FILE, "The file is empty.")
    options = dict(_SAFE_OPEN_OPTIONS)
    if probesize:
        options["probesize"] = str(probesize)
    try:
        return av.open(source, mode="r", options=options, **_METADATA_KWARGS)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise _unreadable(head) from exc


def _open_quickly(source: Source) -> Any:
    """Open with a small probe size; fall back to FFmpeg's default (5 MB) when that
    leaves the audio stream unknown or incomplete (e.g. audio late in an interleave)."""
    rewind = _rewinder(source)
    container = _open(source, probesize=QUICK_PROBE_BYTES)
    streams = container.streams.audio
    if streams and streams[0].codec_context.channels and streams[0].codec_context.sample_rate:
        return container
    container.close()
    rewind()
    return _open(source)


def _rewinder(source: Source) -> Callable[[], object]:
    """A callable that puts a file-like ``source`` back where it is now (a no-op for a
    path), so a caller's file object is left as it was given."""
    if isinstance(source, str | os.PathLike):
        return lambda: None
    position = source.tell()
    return lambda: source.seek(position)


def _read_head(source: Source, size: int = HEAD_BYTES) -> bytes:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as file:
            return file.read(size)
    position = source.tell()
    head = source.read(size)
    source.seek(position)
    return head


# Signatures of audio containers, to tell "damaged audio" (400) from "not audio" (415)
# when FFmpeg refuses a file.
AUDIO_SIGNATURES = (
    (0, b"RIFF"),
    (0, b"fLaC"),
    (0, b"OggS"),
    (0, b"ID3"),
    (0, b"\x1a\x45\xdf\xa3"),  # EBML: webm / matroska
    (4, b"ftyp"),  # mp4 / m4a
    (0, b"FORM"),  # aiff
    (0, b"#!AMR"),
    (0, b"caff"),
)


def _unreadable(head: bytes) -> InvalidAudio:
    """The InvalidAudio for a file FFmpeg cannot open, from its first bytes."""
    looks_like_audio = any(head[at : at + len(sig)] == sig for at, sig in AUDIO_SIGNATURES)
    if not looks_like_audio:
        return InvalidAudio(
            EngineErrorCode.NOT_AUDIO, "The file is not an audio or video file that can be read."
        )
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        problem = _wav_problem(head)
        if problem is not None:
            return problem
    return InvalidAudio(
        EngineErrorCode.CORRUPT_AUDIO, "The audio file is damaged and cannot be read."
    )


def _wav_problem(head: bytes) -> InvalidAudio | None:
    """Explain why FFmpeg refused a WAV: absurd ``fmt `` values or no sample data."""
    at = 12
    while at + 8 <= len(head):
        chunk_id, size = head[at : at + 4], int.from_bytes(head[at + 4 : at + 8], "little")
        body = head[at + 8 : at + 8 + size]
        if chunk_id == b"fmt " and len(body) >= 8:
            channels = int.from_bytes(body[2:4], "little")
            rate = int.from_bytes(body[4:8], "little")
            if not 1 <= channels <= MAX_CHANNELS or not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
                return InvalidAudio(
                    EngineErrorCode.INVALID_AUDIO_PARAMETERS,
                    f"The WAV header declares {channels} channels at {rate} Hz.",
                )
        if chunk_id == b"data" and not body:
            return InvalidAudio(EngineErrorCode.EMPTY_AUDIO, "The file contains no audio samples.")
        at += 8 + size + (size & 1)
    if len(head) < HEAD_BYTES:  # the whole file was read: it ends inside the header
        return InvalidAudio(EngineErrorCode.EMPTY_AUDIO, "The file contains no audio samples.")
    return None


def _audio_stream(container: Any) -> Any:
    if not container.streams.audio:
        raise InvalidAudio(EngineErrorCode.NO_AUDIO_STREAM, "The file contains no audio track.")
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    channels = ctx.channels
    if not 1 <= channels <= MAX_CHANNELS:
        raise InvalidAudio(
            EngineErrorCode.INVALID_AUDIO_PARAMETERS,
            f"The audio track declares {channels} channels.",
        )
    if not MIN_SAMPLE_RATE <= (ctx.sample_rate or 0) <= MAX_SAMPLE_RATE:
        raise InvalidAudio(
            EngineErrorCode.INVALID_AUDIO_PARAMETERS,
            f"The audio track declares a sample rate of {ctx.sample_rate} Hz "
            f"(accepted: {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz).",
        )
    return stream


def _origin(stream: Any) -> float:
    """Time of the stream's first sample in container time (removed from all offsets)."""
    if stream.start_time is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _header_duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration / av.time_base) - _origin(stream)
    return None


def probe(source: Source) -> AudioInfo:
    """Describe an audio file in milliseconds (header plus the first decodable frame).

    Raises `InvalidAudio` with code ``empty_file``, ``not_audio``,
    ``no_audio_stream``, ``invalid_audio_parameters``, ``empty_audio`` or
    ``corrupt_audio``. A file-like ``source`` is left at the position it had.
    """
    rewind = _rewinder(source)
    try:
        with _open_quickly(source) as container:
            stream = _audio_stream(container)
            _decode_first_frame(container, stream)
            duration = _header_duration(container, stream)
            if duration is None or container.format.name in ESTIMATED_DURATION_FORMATS:
                duration = _demuxed_duration(container, stream)
            ctx = stream.codec_context
            return AudioInfo(
                container=container.format.name,
                codec=ctx.name,
                channels=ctx.channels,
                sample_rate=ctx.sample_rate,
                duration=max(0.0, round(duration, 3)),
                bit_rate=container.bit_rate or ctx.bit_rate or None,
            )
    finally:
        rewind()


def _decode_first_frame(container: Any, stream: Any) -> None:
    packets = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            packets += 1
            try:
                for frame in packet.decode():
                    if frame.samples:
                        return
            except av.error.FFmpegError:
                pass  # one bad packet is not fatal; PROBE_PACKETS of them are
            if packets >= PROBE_PACKETS:
                break
    except av.error.FFmpegError as exc:
        raise InvalidAudio(EngineErrorCode.CORRUPT_AUDIO, "The audio data cannot be read.") from exc
    if packets == 0:
        raise _no_samples(container)
    raise InvalidAudio(EngineErrorCode.CORRUPT_AUDIO, "The audio data cannot be decoded.")


def _no_samples(container: Any) -> InvalidAudio:
    """No audio packet at all: a bare header is empty, anything bigger is damaged."""
    size = container.size if container.size and container.size > 0 else 0
    if size > HEAD_BYTES:
        return InvalidAudio(EngineErrorCode.CORRUPT_AUDIO, "The audio data cannot be read.")
    return InvalidAudio(EngineErrorCode.EMPTY_AUDIO, "The file contains no audio samples.")


def _demuxed_duration(container: Any, stream: Any) -> float:
    """Duration from packet timestamps, for streams whose header has none (no decoding)."""
    container.seek(0)
    end = 0.0
    origin = _origin(stream)
    for packet in container.demux(stream):
        if packet.pts is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * stream.time_base))
    return end - origin


# --------------------------------------------------------------------------- decoding


def iter_pcm(
    path: str | os.PathLike[str], start: float = 0.0, end: float | None = None
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(time, samples)`` blocks of 16 kHz mono float32 covering ``[start, end)``.

    Blocks are contiguous: each starts where the previous ended. Memory stays bounded
    whatever the file's length. Raises `InvalidAudio` when nothing decodes.
    """
    with _open(path) as container:
        stream = _audio_stream(container)
        yield from _decode_window(container, stream, max(0.0, start), end)


class _Window:
    """The output clock of one decode: trims resampled blocks to ``[start, end)``."""

    def __init__(self, start: float, end: float | None) -> None:
        self.start = start
        self.end = end
        self.out_time: float | None = None  # time of the next output sample

    def emit(self, samples: np.ndarray) -> Iterator[tuple[float, np.ndarray]]:
        """``samples`` (starting at ``out_time``) cut to the window, with their time."""
        assert self.out_time is not None
        block_start = self.out_time
        self.out_time += len(samples) / SAMPLE_RATE
        lo = max(0, math.ceil((self.start - block_start) * SAMPLE_RATE - 1e-6))
        hi = len(samples)
        if self.end is not None:
            hi = min(hi, max(0, math.ceil((self.end - block_start) * SAMPLE_RATE - 1e-6)))
        if lo < hi:
            yield block_start + lo / SAMPLE_RATE, samples[lo:hi]

    @property
    def full(self) -> bool:
        return self.end is not None and self.out_time is not None and self.out_time >= self.end


@dataclass
class _DecodeStats:
    decoded_any: bool = False
    failures: int = 0  # packets that did not decode


def _seek_near(container: Any, stream: Any, start: float, origin: float) -> float:
    """Seek a little before ``start`` where seeking is exact; returns the time before
    which packets can be skipped (the pre-roll lets decoders settle)."""
    skip_until = max(0.0, start - PREROLL_SECONDS)
    if skip_until > 0 and container.format.name not in IMPRECISE_SEEK_FORMATS:
        container.seek(int((skip_until + origin) / stream.time_base), stream=stream)
    return skip_until


def _frames(
    container: Any, stream: Any, skip_until: float, origin: float, stats: _DecodeStats
) -> Iterator[Any]:
    """Decoded frames with samples, from ``skip_until`` on; bad packets are counted."""
    time_base = stream.time_base
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if packet.pts is not None and packet.duration:
            packet_end = float((packet.pts + packet.duration) * time_base) - origin
            if packet_end < skip_until:
                continue
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            stats.failures += 1
            continue
        yield from (frame for frame in frames if frame.samples)


def _resampled(resampler: Any, frame: Any) -> Iterator[np.ndarray]:
    for out in resampler.resample(frame):
        yield out.to_ndarray()[0]


def _decode_window(
    container: Any, stream: Any, start: float, end: float | None
) -> Iterator[tuple[float, np.ndarray]]:
    """Mono float PCM of ``[start, end)`` in blocks with their times; gaps between
    frames (dropped packets, discontinuous timestamps) are filled with silence."""
    origin = _origin(stream)
    skip_until = _seek_near(container, stream, start, origin)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    window = _Window(start, end)
    stats = _DecodeStats()
    in_time: float | None = None  # where the next input frame should start
    try:
        for frame in _frames(container, stream, skip_until, origin, stats):
            frame_time = frame.time - origin if frame.time is not None else in_time
            if frame_time is None:
                frame_time = 0.0
            if window.out_time is None:
                window.out_time = frame_time
            elif in_time is not None and frame_time - in_time > GAP_TOLERANCE_SECONDS:
                silence = np.zeros(round((frame_time - in_time) * SAMPLE_RATE), np.float32)
                yield from window.emit(silence)
            in_time = frame_time + frame.samples / frame.sample_rate
            stats.decoded_any = True
            frame.pts = None  # we keep time ourselves; avoids resampler pts warnings
            for samples in _resampled(resampler, frame):
                yield from window.emit(samples)
            if window.full:
                return
        if window.out_time is not None:
            for samples in _resampled(resampler, None):
                yield from window.emit(samples)
    except av.error.FFmpegError as exc:
        if not stats.decoded_any:
            raise InvalidAudio(
                EngineErrorCode.CORRUPT_AUDIO, "The audio data cannot be read."
            ) from exc
        # Damage after good audio: keep what decoded, like a truncated file.
    if not stats.decoded_any and stats.failures:
        raise InvalidAudio(EngineErrorCode.CORRUPT_AUDIO, "The audio data cannot be decoded.")
    if not stats.decoded_any and start <= 0:
        raise _no_samples(container)


# --------------------------------------------------------------------------- clips


#: A file planned as one chunk of at most this many seconds keeps the samples the
#: planning pass decoded (16 kHz float32: 64 KB a second, 7.5 MiB at most) and the
#: engine reads them instead of decoding the file a second time. Longer files are
#: decoded again per chunk: holding them would cost memory, and there the decode is a
#: small part of the engine's work.
KEEP_DECODED_SECONDS = 120.0
#: Samples per block when a kept window is handed out block by block (an encoder).
_KEPT_BLOCK = SAMPLE_RATE


@dataclass(frozen=True)
class AudioClip:
    """The window ``[start, end)`` (seconds) of a local audio file; ``end=None`` = to EOF.

    ``decoded``, when set, holds the whole file's samples from 0 s as a pass over it
    decoded them (`plan_chunks` keeps them for a file that fits one short chunk): the
    window is cut from them, exactly as decoding would trim it, instead of decoding
    the file again.
    """

    path: str
    start: float = 0.0
    end: float | None = None
    decoded: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def duration(self) -> float:
        end = self.end if self.end is not None else probe(self.path).duration
        return max(0.0, end - self.start)

    def _kept_window(self) -> np.ndarray | None:
        """The window cut from ``decoded`` (the bounds `_Window` trims a decode to)."""
        if self.decoded is None:
            return None
        lo = max(0, math.ceil(self.start * SAMPLE_RATE - 1e-6))
        hi = len(self.decoded)
        if self.end is not None:
            hi = min(hi, max(0, math.ceil(self.end * SAMPLE_RATE - 1e-6)))
        return self.decoded[lo : max(lo, hi)]

    def iter_pcm(self) -> Iterator[tuple[float, np.ndarray]]:
        kept = self._kept_window()
        if kept is None:
            return iter_pcm(self.path, self.start, self.end)
        return (
            (self.start + i / SAMPLE_RATE, kept[i : i + _KEPT_BLOCK])
            for i in range(0, len(kept), _KEPT_BLOCK)
        )

    def pcm(self) -> np.ndarray:
        """The window as 16 kHz mono float32 samples (only this window is decoded)."""
        kept = self._kept_window()
        if kept is not None:
            return kept.copy()  # the caller may write to it; the kept array stays intact
        if self.end is None:
            blocks = [samples for _, samples in self.iter_pcm()]
            return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        # Known length: fill one preallocated array instead of holding blocks plus
        # their concatenation (half the peak memory for a long chunk).
        out = np.empty(math.ceil((self.end - self.start) * SAMPLE_RATE) + 1, np.float32)
        filled = 0
        for _, samples in self.iter_pcm():
            take = min(len(samples), len(out) - filled)
            out[filled : filled + take] = samples[:take]
            filled += take
        return out[:filled]

    def encode(
        self, fmt: str = "mp3", *, max_bytes: int | None = None, bit_rate: int | None = None
    ) -> bytes:
        """The window as a 16 kHz mono file in ``fmt`` (mp3, ogg (opus), flac or wav).

        For the lossy formats the bit rate is lowered when needed so the result fits in
        ``max_bytes``; a result that still does not fit raises ``InvalidAudio``
        (``chunk_too_large``): plan shorter chunks.
        """
        if fmt not in ENCODINGS:
            raise ValueError(f"Unknown upload format {fmt!r}; choose from {sorted(ENCODINGS)}.")
        encoding = ENCODINGS[fmt]
        rate = bit_rate
        if encoding.bit_rates is not None:
            default_rate, min_rate = encoding.bit_rates
            rate = bit_rate or default_rate
            if max_bytes:
                # 90 %: container overhead and the encoder's rate control slack.
                budget = int(max_bytes * 8 * 0.9 / max(self.duration, 0.001))
                rate = max(min_rate, min(rate, budget))
        data = _encode(self.iter_pcm(), encoding.codec, encoding.container, rate)
        if max_bytes and len(data) > max_bytes:
            raise InvalidAudio(
                EngineErrorCode.CHUNK_TOO_LARGE,
                f"A {self.duration:.0f} s chunk encodes to {len(data)} bytes as {fmt}, "
                f"over the engine's limit of {max_bytes} bytes; use shorter chunks.",
            )
        return data


class Encoding(NamedTuple):
    codec: str  # the encoder
    container: str
    bit_rates: tuple[int, int] | None  # (default, lowest acceptable); None: lossless


ENCODINGS: dict[str, Encoding] = {
    "mp3": Encoding("libmp3lame", "mp3", (48_000, 16_000)),
    "ogg": Encoding("libopus", "ogg", (32_000, 12_000)),
    "flac": Encoding("flac", "flac", None),
    "wav": Encoding("pcm_s16le", "wav", None),
}

MIME_TYPES = {"mp3": "audio/mpeg", "ogg": "audio/ogg", "flac": "audio/flac", "wav": "audio/wav"}


def _encode(
    blocks: Iterator[tuple[float, np.ndarray]],
    codec: str,
    container_format: str,
    bit_rate: int | None,
) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as output:
        stream = output.add_stream(codec, rate=SAMPLE_RATE, layout="mono")
        if not isinstance(stream, av.AudioStream):
            raise ValueError(f"{codec!r} is not an audio encoder.")
        if bit_rate:
            stream.codec_context.bit_rate = bit_rate
        pts = 0
        for _, samples in blocks:
            frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate = SAMPLE_RATE
            frame.pts = pts
            pts += len(samples)
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)
    return buffer.getvalue()


# --------------------------------------------------------------------------- chunking


def plan_chunks(
    path: str | os.PathLike[str],
    max_chunk_seconds: float,
    *,
    max_seconds: float | None = None,
    multiple_of: int = 1,
    keep_seconds: float = 0.0,
) -> list[AudioClip]:
    """Cut the file into clips of at most ``max_chunk_seconds``, at quiet points.

    One streaming decode pass builds a 20 ms energy envelope; each cut goes into the
    quietest 0.4 s stretch near the ideal (evenly balanced) position, just before the
    sound resumes.
    The clips cover the decoded audio exactly and in order; the last ends at the real
    decoded length. Raises `InvalidAudio` for a file without decodable audio, and
    ``audio_too_long`` as soon as more than ``max_seconds`` have decoded: the limit
    holds for what the file contains, whatever its header claims, and the pass stops
    there instead of decoding the rest.

    With ``multiple_of`` (the number of workers that share the clips), a file needing
    more than one clip gets a multiple of that many, shorter ones: seven 86 s clips on
    two workers keep one of them busy four rounds while the other idles the last; eight
    75 s clips end together.

    With ``keep_seconds``, a file planned as one clip of at most that many seconds
    comes back with the samples this pass decoded (`AudioClip.decoded`): whoever
    transcribes the clip in this process does not decode the file again.
    """
    if not max_chunk_seconds or max_chunk_seconds <= 1:
        raise ValueError(f"max_chunk_seconds must be > 1, got {max_chunk_seconds!r}.")
    keep = min(keep_seconds, max_chunk_seconds)
    envelope, total, kept = _energy_envelope(path, max_seconds, keep_seconds=keep)
    if total <= 0:
        raise InvalidAudio(EngineErrorCode.EMPTY_AUDIO, "The file contains no audio samples.")
    path = os.fspath(path)
    pieces = balanced_chunk_count(total, max_chunk_seconds, multiple_of)
    if pieces == 1:
        return [AudioClip(path, 0.0, round(float(total), 3), decoded=kept)]
    cuts = _choose_cuts(envelope, total, float(max_chunk_seconds), pieces)
    bounds = [0.0, *cuts, round(float(total), 3)]
    return [AudioClip(path, a, b) for a, b in itertools.pairwise(bounds)]


def balanced_chunk_count(total: float, max_chunk_seconds: float, multiple_of: int) -> int:
    """How many chunks of at most ``max_chunk_seconds`` to cut ``total`` seconds into:
    the fewest that fit, rounded up to a multiple of ``multiple_of`` when more than
    one is needed."""
    pieces = math.ceil(total / max_chunk_seconds)
    if multiple_of <= 1 or pieces <= 1:
        return max(pieces, 1)
    return math.ceil(pieces / multiple_of) * multiple_of


def quiet_cuts(pcm: np.ndarray, max_piece_seconds: float) -> list[float]:
    """Cut points (seconds) splitting ``pcm`` (16 kHz mono) into pieces of at most
    ``max_piece_seconds``, at quiet points: what `plan_chunks` does to a file, for
    samples already in memory."""
    envelope: array.array[float] = array.array("f")
    _append_rms(envelope, pcm, round(ENERGY_FRAME_SECONDS * SAMPLE_RATE))
    total = len(pcm) / SAMPLE_RATE
    return _choose_cuts(np.frombuffer(envelope, np.float32), total, max_piece_seconds)


def decoded_duration(path: str | os.PathLike[str]) -> float:
    """Seconds of audio that actually decode (a truncated file's header says more)."""
    return round(_energy_envelope(path)[1], 3)


def _energy_envelope(
    path: str | os.PathLike[str],
    max_seconds: float | None = None,
    *,
    keep_seconds: float = 0.0,
) -> tuple[np.ndarray, float, np.ndarray | None]:
    """(RMS per 20 ms frame, total decoded seconds, the samples or None) in one
    streaming pass, stopped with ``audio_too_long`` once more than ``max_seconds`` have
    decoded. The samples are kept only for a file of at most ``keep_seconds``: the
    pass lets go of them as soon as more has decoded."""
    limit = None if max_seconds is None else max_seconds * SAMPLE_RATE
    keep_limit = keep_seconds * SAMPLE_RATE
    kept: list[np.ndarray] | None = [] if keep_seconds > 0 else None
    frame = round(ENERGY_FRAME_SECONDS * SAMPLE_RATE)
    # Decoded blocks are tiny (one codec frame); buffer about a second before reducing
    # so the envelope grows in a few large appends, not one small array per block.
    block = frame * 50
    envelope = array.array("f")
    pending: list[np.ndarray] = []
    pending_samples = 0
    total_samples = 0
    for _, samples in iter_pcm(path):
        total_samples += len(samples)
        if limit is not None and total_samples > limit:
            raise audio_too_long(max_seconds or 0.0, total_samples / SAMPLE_RATE)
        if kept is not None:
            if total_samples <= keep_limit:
                kept.append(samples)
            else:
                kept = None
        pending.append(samples)
        pending_samples += len(samples)
        if pending_samples >= block:
            data = np.concatenate(pending)
            whole = len(data) // frame * frame
            _append_rms(envelope, data[:whole], frame)
            pending = [data[whole:]]
            pending_samples = len(pending[0])
    if pending_samples:
        _append_rms(envelope, np.concatenate(pending), frame)
    samples_kept = np.concatenate(kept) if kept else None
    return np.frombuffer(envelope, np.float32), total_samples / SAMPLE_RATE, samples_kept


def audio_too_long(max_seconds: float, decoded: float) -> InvalidAudio:
    """The error for audio found longer than ``max_seconds`` after ``decoded`` seconds."""
    return InvalidAudio(
        "audio_too_long",  # TranscriptionErrorCode.AUDIO_TOO_LONG
        f"The audio lasts longer than {max_seconds:.0f} s, the longest accepted for this "
        "file (decoding stopped there).",
        details={"max_duration": round(max_seconds, 3), "decoded_seconds": round(decoded, 3)},
    )


def _append_rms(envelope: array.array[float], data: np.ndarray, frame: int) -> None:
    if not len(data):
        return
    padded = np.pad(data, (0, -len(data) % frame))
    squares = np.square(padded.reshape(-1, frame), dtype=np.float64)
    envelope.frombytes(np.sqrt(squares.mean(axis=1)).astype(np.float32).tobytes())


def _choose_cuts(
    envelope: np.ndarray, total: float, max_chunk: float, pieces: int | None = None
) -> list[float]:
    """Cuts making ``pieces`` chunks (None: the fewest) of at most ``max_chunk``."""
    cuts: list[float] = []
    start = 0.0
    quiet = max(1, round(QUIET_WINDOW_SECONDS / ENERGY_FRAME_SECONDS))
    # Moving average: a cut inside a long quiet stretch beats one in a short gap.
    smooth = (
        np.convolve(envelope, np.ones(quiet) / quiet, mode="same") if len(envelope) else envelope
    )
    search = min(0.25 * max_chunk, 60.0)
    while total - start > max_chunk or (pieces and len(cuts) + 1 < pieces):
        # Never fewer than fit under max_chunk, whatever cuts came early.
        left = math.ceil((total - start) / max_chunk)
        if pieces:
            left = max(left, pieces - len(cuts))
        ideal = start + (total - start) / left
        lo = max(start + 1.0, ideal - search)
        hi = min(start + max_chunk, ideal + search)
        i_lo = int(lo / ENERGY_FRAME_SECONDS)
        i_hi = max(i_lo + 1, int(hi / ENERGY_FRAME_SECONDS))
        window = smooth[i_lo:i_hi]
        if len(window) == 0:
            cut = hi
        else:
            # Quietest point; among near-ties (within 1 % of the range) the one closest to
            # the ideal position keeps chunks balanced.
            floor = float(window.min())
            tolerance = floor + 0.01 * (float(window.max()) - floor) + 1e-9
            candidates = np.flatnonzero(window <= tolerance)
            ideal_index = ideal / ENERGY_FRAME_SECONDS - i_lo
            best = int(candidates[np.argmin(np.abs(candidates - ideal_index))])
            # Then move inside the quiet run it belongs to: to its middle, but no more
            # than LEAD_IN_SECONDS before the sound resumes. Whisper dates a segment
            # from the start of a long leading silence, so that silence goes to the
            # chunk before.
            quiet_run = window <= tolerance
            first = last = best
            while first > 0 and quiet_run[first - 1]:
                first -= 1
            while last + 1 < len(window) and quiet_run[last + 1]:
                last += 1
            middle = (i_lo + (first + last) / 2 + 0.5) * ENERGY_FRAME_SECONDS
            # The moving average turns loud half a window before the sound itself.
            sound_resumes = (i_lo + last + 0.5 + quiet / 2) * ENERGY_FRAME_SECONDS
            late = sound_resumes - LEAD_IN_SECONDS
            cut = max(middle, late)
        cut = round(float(min(max(cut, start + 1.0), start + max_chunk)), 3)
        cuts.append(cut)
        start = cut
    return cuts
