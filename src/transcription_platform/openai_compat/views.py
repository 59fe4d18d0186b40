"""HTTP face of the OpenAI-compatible endpoint: ``audio/transcriptions``,
``audio/translations`` and ``models``, in OpenAI's request and error shapes.

Plain Django async views rather than a ninja router: the contract is OpenAI's (its
multipart fields, its error shape, SSE), not our API's, and an async view lets a
request wait for its transcription without holding a thread under ASGI. The sync work
(authentication, parsing the upload, creating the transcription) runs through
`_run`; under WSGI Django runs these views in the request's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from transcription_platform import uploads
from transcription_platform.asgi import long_lived
from transcription_platform.auth import platform_auth
from transcription_platform.error_codes import PlatformErrorCode
from transcription_platform.exceptions import (
    DATABASE_OUTAGE_ERRORS,
    AuthenticationFailed,
    DatabaseUnavailable,
    NotFound,
    TranscriptionPlatformError,
    ValidationError,
    is_database_outage,
    retry_after_header,
)
from transcription_platform.openai_compat import services
from transcription_platform.openai_compat.error_codes import OpenAICompatErrorCode as Code
from transcription_platform.ratelimit import check_rate_limit
from transcription_platform.scopes import Scope, check_scope
from transcription_platform.validators import upload_too_large

logger = logging.getLogger("transcription_platform.openai_compat")

#: Statuses the SDK would retry by default but that a retry cannot fix.
_PERMANENT = frozenset({422, 500})


# --------------------------------------------------------------------------- errors


def openai_error(
    exc: TranscriptionPlatformError, request: HttpRequest | None = None
) -> JsonResponse:
    """``exc`` as an OpenAI-shaped JSON response, with the headers the SDK acts on.

    Args:
        exc: The error.
        request: The request (its ``Idempotency-Key`` makes a timed-out wait retryable).

    Returns:
        The response: ``retry-after`` on a 429; ``x-should-retry`` where the SDK's
        default retry policy would be wrong.
    """
    if exc.status_code >= 500:
        logger.error("Server-side error on the OpenAI-compatible endpoint: %s", exc.message)
    response = JsonResponse(services.error_body(exc), status=exc.status_code)
    retry_after = retry_after_header(exc)
    if retry_after is not None:
        response["Retry-After"] = retry_after
    if isinstance(exc, services.WaitTimeout):
        # Retrying re-uploads: only useful when the key replays the same transcription.
        has_key = bool(request is not None and request.headers.get("Idempotency-Key"))
        response["x-should-retry"] = "true" if has_key else "false"
    elif exc.status_code in _PERMANENT:
        response["x-should-retry"] = "false"
    return response


def _method_not_allowed(request: HttpRequest, allowed: str) -> JsonResponse:
    exc = TranscriptionPlatformError(
        f"Method {request.method} is not allowed here.",
        code=PlatformErrorCode.METHOD_NOT_ALLOWED.value,
        status_code=405,
    )
    response = openai_error(exc)
    response["Allow"] = allowed
    return response


def _unexpected(request: HttpRequest) -> JsonResponse:
    logger.exception("Unhandled error on %s %s", request.method, request.path)
    return openai_error(
        TranscriptionPlatformError(
            "An internal error occurred.",
            code=PlatformErrorCode.INTERNAL_ERROR.value,
            status_code=500,
        )
    )


# --------------------------------------------------------------------------- request steps


def _authenticate(request: HttpRequest, scope: Scope = Scope.READ) -> Any:
    # The same authentication classes as the REST API (the AUTHENTICATION setting).
    user = next(filter(None, (callback(request) for callback in platform_auth)), None)
    if user is None:
        raise AuthenticationFailed(
            "Incorrect API key provided: send a platform API key or access token as "
            "'Authorization: Bearer <key>'.",
            code=Code.INVALID_API_KEY.value,
        )
    request.auth = user  # type: ignore[attr-defined]  # what ninja does; rate limits read it
    check_scope(request, scope)
    check_rate_limit(request, "user", "user")
    return user


def _read_form(request: HttpRequest, task: str) -> tuple[services.AudioRequest, Any]:
    uploads.stream_uploads_to_disk(request)
    try:
        data, files = request.POST, request.FILES
    except (MultiPartParserError, SuspiciousOperation, UnicodeDecodeError):
        raise ValidationError(
            "The multipart body could not be parsed.", code=PlatformErrorCode.BAD_REQUEST.value
        ) from None
    except RequestDataTooBig:
        raise upload_too_large() from None
    upload = files.get("file")
    if upload is None:
        # StopUpload leaves the file out: tell a too-large file from a missing one.
        if uploads.stopped_too_large(request):
            raise upload_too_large()
        raise ValidationError(
            "file is required (multipart field 'file').",
            code=Code.MISSING_FILE.value,
            details={"field": "file"},
        )
    return services.parse_request(data, task), upload


def _submit(
    request: HttpRequest, user: Any, params: services.AudioRequest, upload: Any
) -> tuple[Any, bool]:
    check_rate_limit(request, "transcription_create", "user")
    try:
        return services.submit(
            owner=user,
            audio_path=upload.temporary_file_path(),
            filename=upload.name or "",
            size_bytes=upload.size,
            content_type=upload.content_type or "",
            params=params,
            idempotency_key=(request.headers.get("Idempotency-Key") or "").strip(),
            request=request,
        )
    finally:
        upload.close()  # removes the temporary file


# --------------------------------------------------------------------------- views


async def _run(request: HttpRequest, func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` off the event loop.

    Under ASGI on a shared pool thread (``thread_sensitive=True`` would give every
    request a thread of its own for as long as it lasts, waiting included), its database
    connection released afterwards as at the end of a request. Under WSGI on the
    request's thread, which is blocked anyway.
    """
    if not isinstance(request, ASGIRequest):
        return await sync_to_async(func)(*args)

    def pooled() -> Any:
        try:
            return func(*args)
        finally:
            close_old_connections()

    return await sync_to_async(pooled, thread_sensitive=False)()


async def _audio(request: HttpRequest, task: str) -> HttpResponseBase:
    if request.method != "POST":
        return _method_not_allowed(request, "POST")
    try:
        user = await _run(request, _authenticate, request, Scope.TRANSCRIBE)
        params, upload = await _run(request, _read_form, request, task)
        transcription, _created = await _run(request, _submit, request, user, params, upload)
        headers = {"X-Transcription-Id": str(transcription.pk)}
        asgi = isinstance(request, ASGIRequest)
        if params.stream:
            events: Any = (
                services.stream_events(user, transcription.pk)
                if asgi
                else services.stream_events_sync(user, transcription.pk)
            )
            response: HttpResponse | StreamingHttpResponse = StreamingHttpResponse(
                events, content_type="text/event-stream"
            )
            response["Cache-Control"] = "no-cache"
            response["X-Accel-Buffering"] = "no"  # nginx: send each event as it comes
        else:
            transcription = await services.wait_until_finished(user, transcription.pk, pooled=asgi)
            services.result_or_error(transcription)
            body, content_type = services.render(transcription, params)
            response = HttpResponse(body, content_type=content_type)
    except TranscriptionPlatformError as exc:
        return openai_error(exc, request)
    except DATABASE_OUTAGE_ERRORS as exc:
        if not is_database_outage(exc):
            return _unexpected(request)
        logger.exception("Database unavailable on %s %s", request.method, request.path)
        return openai_error(DatabaseUnavailable(), request)
    except Exception:
        return _unexpected(request)
    for name, value in headers.items():
        response[name] = value
    return response


@csrf_exempt
@long_lived
async def create_transcription(request: HttpRequest) -> HttpResponseBase:
    """``POST audio/transcriptions``: the OpenAI SDK's ``audio.transcriptions.create``.

    Args:
        request: Multipart ``file``, ``model``, ``language``, ``prompt``,
            ``response_format``, ``temperature``, ``timestamp_granularities[]``,
            ``include[]``, ``stream``.

    Returns:
        The transcript in ``response_format``, an SSE stream, or an OpenAI error.
    """
    return await _audio(request, "transcribe")


@csrf_exempt
@long_lived
async def create_translation(request: HttpRequest) -> HttpResponseBase:
    """``POST audio/translations``: English text from an engine whose task is translate.

    Args:
        request: As for `create_transcription` (``language`` is ignored).

    Returns:
        The translation, an SSE stream, or an OpenAI error (400 without such an engine).
    """
    return await _audio(request, "translate")


def _model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "transcription_platform"}


def _served_models() -> list[str]:
    return sorted({*services.models("transcribe"), *services.models("translate")})


@csrf_exempt
async def list_models(request: HttpRequest) -> HttpResponse:
    """``GET models``: the mapped model names (``OPENAI_COMPAT_MODELS`` and translations).

    Args:
        request: An authenticated GET.

    Returns:
        ``{"object": "list", "data": [model, ...]}``.
    """
    if request.method != "GET":
        return _method_not_allowed(request, "GET")
    try:
        await _run(request, _authenticate, request)
        served = _served_models()
    except TranscriptionPlatformError as exc:
        return openai_error(exc, request)
    except DATABASE_OUTAGE_ERRORS as exc:
        if not is_database_outage(exc):
            raise
        logger.exception("Database unavailable on %s %s", request.method, request.path)
        return openai_error(DatabaseUnavailable(), request)
    return JsonResponse({"object": "list", "data": [_model_object(m) for m in served]})


@csrf_exempt
async def retrieve_model(request: HttpRequest, model: str) -> HttpResponse:
    """``GET models/{model}``: one mapped model, or 404.

    Args:
        request: An authenticated GET.
        model: The model name.

    Returns:
        The model object.
    """
    if request.method != "GET":
        return _method_not_allowed(request, "GET")
    try:
        await _run(request, _authenticate, request)
        if model not in _served_models():
            raise NotFound(
                f"The model {model[:100]!r} does not exist.", code=Code.MODEL_NOT_FOUND.value
            )
    except TranscriptionPlatformError as exc:
        return openai_error(exc, request)
    except DATABASE_OUTAGE_ERRORS as exc:
        if not is_database_outage(exc):
            raise
        logger.exception("Database unavailable on %s %s", request.method, request.path)
        return openai_error(DatabaseUnavailable(), request)
    return JsonResponse(_model_object(model))


@csrf_exempt
def not_found(request: HttpRequest, unmatched: str = "") -> HttpResponse:
    """Any other path under the mount point: a 404 in OpenAI's shape.

    Args:
        request: The request.
        unmatched: The rest of the path.

    Returns:
        The 404.
    """
    return openai_error(NotFound("No endpoint matches this path."))
