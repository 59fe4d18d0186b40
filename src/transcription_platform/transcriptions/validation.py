"""Upload validation shared by the API and the ``transcribe`` command.

Both reject the same files and options with the same error codes and messages:
size (``payload_too_large``), a real audio probe (``InvalidAudio`` codes), duration
(``audio_too_long``), engine (``unknown_engine``) and language (``invalid_language``,
``unsupported_language``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from transcription_platform.accounts.services import transcription_defaults_for
from transcription_platform.conf import settings
from transcription_platform.engines import AudioInfo, engine_names, get_engine, probe
from transcription_platform.error_codes import PlatformErrorCode
from transcription_platform.exceptions import ValidationError
from transcription_platform.transcriptions.error_codes import TranscriptionErrorCode
from transcription_platform.validators import MAX_TITLE_LENGTH, normalize_language, validate_prompt


@dataclass(frozen=True)
class JobOptions:
    """Validated options of a new transcription, the owner's defaults applied."""

    engine: str
    language: str
    prompt: str
    title: str


def clean_filename(name: str) -> str:
    """The client's file name without any path part or control character."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").split("/")[-1]
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().strip(".") or "audio"
    return name[-255:]


def duration_limit(size_bytes: int) -> float:
    """The longest audio accepted in a file of ``size_bytes``.

    ``MAX_DURATION_SECONDS``, lowered for a small file to ``size_bytes /
    MIN_BYTES_PER_AUDIO_SECOND``: real speech codecs need hundreds of bytes per second
    at least, so a file that decodes to far more audio than its size allows is crafted
    to make the workers decode for hours — the limit bounds the work per byte uploaded.
    """
    limit = float(settings.MAX_DURATION_SECONDS)
    per_second = settings.MIN_BYTES_PER_AUDIO_SECOND
    if per_second:
        limit = min(limit, size_bytes / per_second)
    return limit


def probe_audio(path: str, size_bytes: int | None = None) -> AudioInfo:
    """Probe the file (InvalidAudio when it is not usable audio) and check the duration
    its header claims against `duration_limit`.

    The header may lie (a FLAC or MP3 header can claim 1 s for hours of audio): the
    worker checks the same limit again against what really decodes, when it plans the
    chunks, and fails the job with ``audio_too_long`` there.
    """
    info = probe(path)
    limit = (
        duration_limit(size_bytes)
        if size_bytes is not None
        else float(settings.MAX_DURATION_SECONDS)
    )
    if info.duration > limit:
        raise ValidationError(
            f"The audio lasts {info.duration:.0f} s; the limit is {limit:.0f} s"
            + ("." if limit >= settings.MAX_DURATION_SECONDS else " for a file of this size."),
            code=TranscriptionErrorCode.AUDIO_TOO_LONG,
            details={"duration": info.duration, "max_duration": round(limit, 3)},
        )
    return info


def validated_options(
    user: Any, *, engine: str = "", language: str = "", prompt: str = "", title: str = ""
) -> JobOptions:
    """Check title and prompt lengths, then engine and language, falling back to the
    owner's saved defaults (accounts app) and the site's DEFAULT_ENGINE."""
    if len(title) > MAX_TITLE_LENGTH:
        raise ValidationError(
            f"Title is longer than {MAX_TITLE_LENGTH} characters.", details={"field": "title"}
        )
    validate_prompt(prompt)
    defaults = _user_defaults(user)
    engine = validated_engine(engine.strip() or defaults.get("engine") or settings.DEFAULT_ENGINE)
    language = validated_language(engine, language or defaults.get("language") or "")
    return JobOptions(
        engine=engine,
        language=language,
        prompt=prompt or defaults.get("prompt") or "",
        title=title.strip(),
    )


def validated_engine(name: str) -> str:
    if name not in engine_names():
        raise ValidationError(
            f"Unknown engine {name!r}.",
            code=TranscriptionErrorCode.UNKNOWN_ENGINE,
            details={"field": "engine", "allowed": engine_names()},
        )
    return name


def validated_language(engine_name: str, language: str) -> str:
    """The language code in its canonical form (see `transcription_platform.validators`)
    if well formed and supported by the engine."""
    language = normalize_language(language)
    if not language:
        return ""
    supported = get_engine(engine_name).languages
    if supported is not None and language not in supported and language.lower() not in supported:
        raise ValidationError(
            f"The {engine_name!r} engine does not support language {language!r}.",
            code=PlatformErrorCode.UNSUPPORTED_LANGUAGE,
            details={"field": "language", "allowed": sorted(supported)},
        )
    return language


def _user_defaults(user: Any) -> dict[str, Any]:
    return transcription_defaults_for(user) or {}
