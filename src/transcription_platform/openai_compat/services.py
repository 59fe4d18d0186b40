"""What the OpenAI-compatible endpoint does, apart from HTTP.

A request becomes a normal transcription through the transcriptions app's services
(same validation, idempotency, audit, quotas), then the caller waits for it to finish
(`wait_until_finished`, or `stream_events` for ``stream=true``) and gets the
result rendered in OpenAI's formats — ``text``, ``srt`` and ``vtt`` are the REST
export's own output.

Waiting polls the database with backoff. In the async variants each poll is a short
query on a pool thread and the wait itself is an ``asyncio.sleep``: under ASGI no
thread is held by a waiting client. Under WSGI the request's own thread waits.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from django.http import QueryDict

from transcription_platform.audit.services import log_action
from transcription_platform.conf import SETTINGS_NAME, settings
from transcription_platform.engines import engine_names, get_engine
from transcription_platform.exceptions import (
    ConfigurationError,
    Conflict,
    TranscriptionPlatformError,
    ValidationError,
)
from transcription_platform.openai_compat.error_codes import OpenAICompatErrorCode as Code
from transcription_platform.transcriptions import services as transcriptions

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
GRANULARITIES = ("segment", "word")
INCLUDES = ("logprobs",)
TASKS = ("transcribe", "translate")
#: Polling backoff: first delay, growth factor, longest delay (seconds).
POLL_FIRST, POLL_FACTOR, POLL_MAX = 0.05, 1.5, 1.0
#: An SSE comment this often keeps proxies from closing a quiet stream.
KEEPALIVE_SECONDS = 15.0


@dataclass(frozen=True)
class AudioRequest:
    """The validated form fields of a transcription or translation request."""

    task: str
    model: str
    engine: str
    language: str = ""
    prompt: str = ""
    response_format: str = "json"
    temperature: float = 0.0
    timestamp_granularities: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    stream: bool = False


class WaitTimeout(TranscriptionPlatformError):
    """The transcription is still running after ``OPENAI_COMPAT_WAIT_SECONDS``."""

    status_code = 408
    code = Code.TRANSCRIPTION_TIMEOUT.value


@dataclass
class _StreamState:
    sent_chunks: int = 0


# --------------------------------------------------------------------------- requests


def models(task: str = "transcribe") -> dict[str, str]:
    """OpenAI model names served for ``task``, each with the engine alias it maps to.

    Args:
        task: ``"transcribe"`` or ``"translate"``.

    Returns:
        ``{model: engine alias}`` (None in the setting resolved to ``DEFAULT_ENGINE``).

    Raises:
        ConfigurationError: The setting names an engine that is not configured.
    """
    mapping = (
        settings.OPENAI_COMPAT_MODELS
        if task == "transcribe"
        else settings.OPENAI_COMPAT_TRANSLATION_MODELS
    )
    served = {str(name): alias or settings.DEFAULT_ENGINE for name, alias in mapping.items()}
    key = "OPENAI_COMPAT_MODELS" if task == "transcribe" else "OPENAI_COMPAT_TRANSLATION_MODELS"
    unknown = sorted(
        f"{name!r}: {alias!r}"
        for name, alias in served.items()
        if not isinstance(alias, str) or alias not in engine_names()
    )
    if unknown:
        # The site's mistake, not the client's: a 500 naming the key, never a 400.
        raise ConfigurationError(
            f"{SETTINGS_NAME}[{key!r}] maps to engines that are not in ENGINES: "
            f"{', '.join(unknown)}."
        )
    return served


def resolve_engine(model: str, task: str) -> str:
    """The engine alias serving ``model`` for ``task``.

    Args:
        model: The ``model`` form field.
        task: ``"transcribe"`` or ``"translate"``.

    Returns:
        The engine alias.

    Raises:
        ValidationError: Unknown model, or no engine able to translate.
    """
    served = models(task)
    if task == "translate" and not served:
        raise ValidationError(
            "This server has no engine configured for translation.",
            code=Code.TRANSLATION_NOT_SUPPORTED.value,
            details={"field": "model"},
        )
    if model not in served:
        raise ValidationError(
            f"The model {model!r} does not exist; available: {', '.join(sorted(served))}.",
            code=Code.MODEL_NOT_FOUND.value,
            details={"field": "model"},
        )
    alias = served[model]
    if task == "translate" and getattr(get_engine(alias), "task", "transcribe") != "translate":
        raise ValidationError(
            f"The engine behind {model!r} does not translate.",
            code=Code.TRANSLATION_NOT_SUPPORTED.value,
            details={"field": "model"},
        )
    return alias


def _invalid(field_name: str, message: str) -> ValidationError:
    return ValidationError(
        message, code=Code.INVALID_PARAMETER.value, details={"field": field_name}
    )


def _one(data: QueryDict, name: str) -> str:
    value = data.get(name, "")
    if "\x00" in value:
        raise _invalid(name, f"{name} must not contain NUL characters.")
    return value


def _many(data: QueryDict, name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    # The SDK sends arrays as repeated "name[]" fields; accept the bare name too.
    values = [*data.getlist(f"{name}[]"), *data.getlist(name)]
    for value in values:
        if value not in allowed:
            raise _invalid(name, f"{name} values are {', '.join(allowed)}; got {value[:50]!r}.")
    return tuple(dict.fromkeys(values))


def parse_request(data: QueryDict, task: str) -> AudioRequest:
    """Validate the form fields the OpenAI SDKs send.

    Args:
        data: ``request.POST``.
        task: ``"transcribe"`` or ``"translate"``.

    Returns:
        The validated request.

    Raises:
        ValidationError: A missing or bad field (``param`` names it).
    """
    model = _one(data, "model").strip()
    if not model:
        raise _invalid("model", "model is required.")
    engine = resolve_engine(model, task)
    response_format = _one(data, "response_format") or "json"
    if response_format not in RESPONSE_FORMATS:
        raise _invalid(
            "response_format", f"response_format must be one of {', '.join(RESPONSE_FORMATS)}."
        )
    try:
        temperature = float(_one(data, "temperature") or 0)
    except ValueError:
        raise _invalid("temperature", "temperature must be a number.") from None
    if not 0.0 <= temperature <= 1.0:  # also refuses nan
        raise _invalid("temperature", "temperature must be between 0 and 1.")
    stream_value = _one(data, "stream").lower() or "false"
    if stream_value not in ("true", "false"):
        raise _invalid("stream", "stream must be true or false.")
    granularities = _many(data, "timestamp_granularities", GRANULARITIES)
    if granularities and response_format != "verbose_json":
        raise _invalid(
            "timestamp_granularities",
            "timestamp_granularities needs response_format=verbose_json.",
        )
    return AudioRequest(
        task=task,
        model=model,
        engine=engine,
        # Translation output is English whatever was spoken: no language to force.
        language=_one(data, "language") if task == "transcribe" else "",
        prompt=_one(data, "prompt"),
        response_format=response_format,
        temperature=temperature,
        timestamp_granularities=granularities,
        include=_many(data, "include", INCLUDES),
        stream=stream_value == "true",
    )


def submit(
    *,
    owner: Any,
    audio_path: str,
    filename: str,
    size_bytes: int,
    content_type: str,
    params: AudioRequest,
    idempotency_key: str = "",
    request: Any = None,
) -> tuple[Any, bool]:
    """Create the transcription (or replay the one created with ``idempotency_key``).

    Args:
        owner: The authenticated user.
        audio_path: Local path of the uploaded file.
        filename: The client's file name.
        size_bytes: Size of the upload.
        content_type: The client's content type.
        params: The validated request.
        idempotency_key: The ``Idempotency-Key`` header.
        request: The request, for the audit log.

    Returns:
        ``(transcription, created)``.

    Raises:
        TranscriptionPlatformError: The transcriptions app's validation errors.
    """
    if len(idempotency_key) > 255:
        raise ValidationError(
            "Idempotency-Key is longer than 255 characters.",
            code="invalid_idempotency_key",
            details={"field": "Idempotency-Key"},
        )
    if idempotency_key:
        existing = transcriptions.find_idempotent(owner, idempotency_key)
        if existing is not None:
            return existing, False
    transcription, created = transcriptions.create_from_file(
        owner,
        transcriptions.AudioFile(
            path=audio_path, name=filename, size_bytes=size_bytes, content_type=content_type
        ),
        engine=params.engine,
        language=params.language,
        prompt=params.prompt,
        idempotency_key=idempotency_key,
    )
    if created:
        log_action("created", request=request, obj=transcription)
    return transcription, created


# --------------------------------------------------------------------------- waiting


def _fetch(owner: Any, pk: Any) -> Any:
    try:
        return transcriptions.get_transcription_for(owner, pk)
    finally:
        # Polls run on pool threads that outlive the request: give their connection back
        # the way Django does at the end of a request (CONN_MAX_AGE decides).
        close_old_connections()


def _finished(transcription: Any) -> bool:
    return transcription.status in transcriptions.FINISHED


def _timeout_error(transcription: Any, waited: float) -> WaitTimeout:
    return WaitTimeout(
        f"The transcription is still {transcription.status} after {waited:g} s; fetch it "
        f"later from the REST API: transcriptions/{transcription.pk}.",
        details={"transcription_id": str(transcription.pk), "status": transcription.status},
    )


async def wait_until_finished(
    owner: Any, pk: Any, timeout: float | None = None, *, pooled: bool = True
) -> Any:
    """Wait (asynchronously) until the transcription is completed, failed or cancelled.

    Args:
        owner: The user it belongs to.
        pk: Its id.
        timeout: Seconds to wait; default ``OPENAI_COMPAT_WAIT_SECONDS``.
        pooled: Run each poll on a pool thread (ASGI: no thread held between polls).
            False runs them on the request's thread, which WSGI blocks anyway.

    Returns:
        The finished transcription.

    Raises:
        WaitTimeout: Still running after ``timeout`` seconds (carries its id).
    """
    timeout = settings.OPENAI_COMPAT_WAIT_SECONDS if timeout is None else timeout
    fetch = sync_to_async(_fetch, thread_sensitive=not pooled)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = POLL_FIRST
    while True:
        transcription = await fetch(owner, pk)
        remaining = deadline - loop.time()
        if _finished(transcription):
            return transcription
        if remaining <= 0:
            raise _timeout_error(transcription, timeout)
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * POLL_FACTOR, POLL_MAX)


def result_or_error(transcription: Any) -> Any:
    """The transcription if completed, else the error to answer with.

    Args:
        transcription: A finished transcription.

    Returns:
        The transcription.

    Raises:
        Conflict: Failed or cancelled (422: a permanent outcome the SDK must not retry).
    """
    if transcription.status == transcriptions.TranscriptionStatus.COMPLETED:
        return transcription
    raise Conflict(
        transcription.error_message or f"The transcription was {transcription.status}.",
        code=Code.TRANSCRIPTION_FAILED.value,
        status_code=422,
        details={
            "transcription_id": str(transcription.pk),
            "status": transcription.status,
            "error_code": transcription.error_code,
        },
    )


# --------------------------------------------------------------------------- rendering


def render(transcription: Any, params: AudioRequest) -> tuple[str, str]:
    """The completed transcription as OpenAI's ``response_format`` asks.

    Args:
        transcription: A completed transcription.
        params: The request.

    Returns:
        ``(body, content type)``. ``text``, ``srt`` and ``vtt`` are exactly the REST
        export of the same transcription (``txt``, ``srt``, ``vtt``).
    """
    fmt = params.response_format
    if fmt in ("text", "srt", "vtt"):
        exports: dict[str, transcriptions.ExportFormat] = {
            "text": "txt",
            "srt": "srt",
            "vtt": "vtt",
        }
        export = exports[fmt]
        content_type = {"text": "text/plain", "srt": "application/x-subrip", "vtt": "text/vtt"}
        body = transcriptions.render_export(transcription, export)
        return body, f"{content_type[fmt]}; charset=utf-8"
    data: dict[str, Any] = {"text": transcription.text}
    duration = float(transcription.duration or 0.0)
    if fmt == "verbose_json":
        data = {
            "task": params.task,
            "language": transcription.detected_language or transcription.language,
            "duration": duration,
            "text": transcription.text,
        }
        granularities = params.timestamp_granularities or ("segment",)
        if "segment" in granularities:
            data["segments"] = [
                _verbose_segment(s, params.temperature) for s in transcription.segments
            ]
        if "word" in granularities:
            data["words"] = [
                {"word": w.get("text", ""), "start": w.get("start"), "end": w.get("end")}
                for s in transcription.segments
                for w in s.get("words") or ()
            ]
    data["usage"] = {"type": "duration", "seconds": duration}
    return json.dumps(data, ensure_ascii=False), "application/json"


def _verbose_segment(segment: dict[str, Any], temperature: float) -> dict[str, Any]:
    # Whisper's decoder statistics are not kept by every engine: neutral values.
    return {
        "id": segment.get("id", 0),
        "seek": 0,
        "start": segment.get("start", 0.0),
        "end": segment.get("end", 0.0),
        "text": segment.get("text", ""),
        "tokens": [],
        "temperature": temperature,
        "avg_logprob": 0.0,
        "compression_ratio": 0.0,
        "no_speech_prob": 0.0,
    }


# --------------------------------------------------------------------------- streaming


def sse(data: dict[str, Any]) -> bytes:
    """One Server-Sent Event carrying ``data`` as JSON.

    Args:
        data: The event's payload.

    Returns:
        The encoded event.
    """
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def _new_events(state: _StreamState, transcription: Any, texts: list[str]) -> list[bytes]:
    events = []
    for text in texts[state.sent_chunks :]:
        # Deltas concatenate to the transcript: a space before every chunk but the first.
        delta = text if state.sent_chunks == 0 else f" {text}"
        state.sent_chunks += 1
        if text:
            events.append(sse({"type": "transcript.text.delta", "delta": delta}))
    return events


def _final_events(state: _StreamState, transcription: Any, texts: list[str]) -> list[bytes]:
    try:
        result_or_error(transcription)
    except TranscriptionPlatformError as exc:
        return [sse(error_body(exc))]
    events = _new_events(state, transcription, texts)
    if state.sent_chunks == 0 and transcription.text:
        events.append(sse({"type": "transcript.text.delta", "delta": transcription.text}))
    events.append(sse({"type": "transcript.text.done", "text": transcription.text}))
    return events


def _snapshot(owner: Any, pk: Any) -> tuple[Any, list[str]]:
    try:
        transcription = transcriptions.get_transcription_for(owner, pk)
        return transcription, transcriptions.finished_chunk_texts(transcription)
    finally:
        close_old_connections()


class _StreamPoller:
    """The waiting logic of a stream, apart from how it waits (shared by the ASGI and
    the WSGI loops): which events a snapshot produces and how long to sleep next."""

    def __init__(self, timeout: float, now: float) -> None:
        self.timeout = timeout
        self.state = _StreamState()
        self.deadline = now + timeout
        self.delay = POLL_FIRST
        self.last_sent = now

    def step(
        self, transcription: Any, texts: list[str], now: float
    ) -> tuple[list[bytes], float | None]:
        """Events for one snapshot, and the seconds to sleep before the next (None: done)."""
        if _finished(transcription):
            return _final_events(self.state, transcription, texts), None
        events = _new_events(self.state, transcription, texts)
        if events:
            self.last_sent = now
        elif now - self.last_sent >= KEEPALIVE_SECONDS:
            self.last_sent = now
            events = [b": keep-alive\n\n"]
        if now >= self.deadline:
            events.append(sse(error_body(_timeout_error(transcription, self.timeout))))
            return events, None
        wait = min(self.delay, self.deadline - now)
        self.delay = min(self.delay * POLL_FACTOR, POLL_MAX)
        return events, wait


async def stream_events(owner: Any, pk: Any, timeout: float | None = None) -> AsyncIterator[bytes]:
    """SSE events for a transcription: a ``transcript.text.delta`` per finished chunk,
    then ``transcript.text.done`` — or an ``{"error": …}`` event, which the SDK raises.

    Args:
        owner: The user it belongs to.
        pk: Its id.
        timeout: Seconds to wait; default ``OPENAI_COMPAT_WAIT_SECONDS``.

    Yields:
        Encoded events.
    """
    timeout = settings.OPENAI_COMPAT_WAIT_SECONDS if timeout is None else timeout
    snapshot = sync_to_async(_snapshot, thread_sensitive=False)
    clock = asyncio.get_running_loop().time
    poller = _StreamPoller(timeout, clock())
    while True:
        transcription, texts = await snapshot(owner, pk)
        events, wait = poller.step(transcription, texts, clock())
        for event in events:
            yield event
        if wait is None:
            return
        await asyncio.sleep(wait)


def stream_events_sync(owner: Any, pk: Any, timeout: float | None = None) -> Iterator[bytes]:
    """`stream_events` for WSGI servers (the request thread waits)."""
    timeout = settings.OPENAI_COMPAT_WAIT_SECONDS if timeout is None else timeout
    poller = _StreamPoller(timeout, time.monotonic())
    while True:
        transcription, texts = _snapshot(owner, pk)
        events, wait = poller.step(transcription, texts, time.monotonic())
        yield from events
        if wait is None:
            return
        time.sleep(wait)


# --------------------------------------------------------------------------- errors

_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def error_body(exc: TranscriptionPlatformError) -> dict[str, Any]:
    """``exc`` in OpenAI's error shape ``{"error": {"message", "type", "param", "code"}}``.

    Args:
        exc: The library error.

    Returns:
        The body; a ``transcription_id`` is added when the error concerns one.
    """
    details = exc.details if isinstance(exc.details, dict) else {}
    status = exc.status_code
    error_type = _ERROR_TYPES.get(status) or (
        "server_error" if status >= 500 else "invalid_request_error"
    )
    error: dict[str, Any] = {
        "message": exc.message,
        "type": error_type,
        "param": details.get("field"),
        "code": exc.code,
    }
    if "transcription_id" in details:
        error["transcription_id"] = details["transcription_id"]
    return {"error": error}
