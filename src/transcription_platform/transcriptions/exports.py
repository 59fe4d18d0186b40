"""Transcript exports: plain text, SubRip (SRT), WebVTT and JSON."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Literal

from django.core.serializers.json import DjangoJSONEncoder
from django.utils.module_loading import import_string

from transcription_platform.hooks import declared_by_apps

ExportFormat = Literal["txt", "srt", "vtt", "json"]

CONTENT_TYPES: dict[str, str] = {
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "json": "application/json",
}


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    content_type: str
    filename: str


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cues(segments: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
    """Segments with text, end strictly after start (players drop zero-length cues)."""
    cues = []
    for segment in segments:
        text = " ".join(str(segment.get("text", "")).split())
        if not text:
            continue
        start = float(segment.get("start", 0.0))
        end = max(float(segment.get("end", start)), start + 0.001)
        # "-->" inside a cue would end it early for parsers.
        cues.append((start, end, text.replace("-->", "->")))
    return cues


def to_txt(text: str, segments: list[dict[str, Any]]) -> str:
    return (text.strip() or "\n".join(cue[2] for cue in _cues(segments))) + "\n"


def to_srt(segments: list[dict[str, Any]]) -> str:
    blocks = [
        f"{n}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{text}\n"
        for n, (start, end, text) in enumerate(_cues(segments), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: list[dict[str, Any]]) -> str:
    blocks = ["WEBVTT\n"] + [
        f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{text}\n"
        for start, end, text in _cues(segments)
    ]
    return "\n".join(blocks)


def to_json(transcription: Any) -> str:
    data: dict[str, Any] = {
        "id": str(transcription.pk),
        "title": transcription.title,
        "original_filename": transcription.original_filename,
        "language": transcription.language,
        "detected_language": transcription.detected_language,
        "engine": transcription.engine,
        "model": transcription.model,
        "duration": transcription.duration,
        "created_at": transcription.created_at,
        "completed_at": transcription.completed_at,
        "text": transcription.text,
        "segments": transcription.segments,
    }
    # Installed apps add their own sections (the analysis app: "analysis").
    for key, dotted in declared_by_apps("transcription_export_sections"):
        section = import_string(dotted)(transcription)
        if section is not None:
            data[key] = section
    return json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)


def render(transcription: Any, fmt: ExportFormat) -> ExportFile:
    """The transcript of ``transcription`` in ``fmt``, ready to send as a download."""
    if fmt == "txt":
        content = to_txt(transcription.text, transcription.segments)
    elif fmt == "srt":
        content = to_srt(transcription.segments)
    elif fmt == "vtt":
        content = to_vtt(transcription.segments)
    else:
        content = to_json(transcription)
    stem = (
        os.path.splitext(transcription.title or transcription.original_filename)[0] or "transcript"
    )
    return ExportFile(content.encode("utf-8"), CONTENT_TYPES[fmt], f"{stem}.{fmt}")
