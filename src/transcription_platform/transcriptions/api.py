"""``/transcriptions/``: upload, list, detail, delete, retry, cancel, export, audio."""

import json
import logging
import os
import tempfile
from typing import Annotated, Any, Literal
from uuid import UUID

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from ninja import File, Form, Query, Router, Schema, Status, UploadedFile
from ninja.decorators import decorate_view
from pydantic import TypeAdapter, WithJsonSchema

from transcription_platform import uploads
from transcription_platform.audit.services import log_action
from transcription_platform.auth import auth_principal, platform_auth
from transcription_platform.exceptions import (
    AuthenticationFailed,
    PayloadTooLarge,
    ValidationError,
    response_for,
)
from transcription_platform.hooks import imported_by_apps
from transcription_platform.pagination import PageQuery, page_of, page_of_shape, paged_schema
from transcription_platform.ranges import ranged_response
from transcription_platform.ratelimit import count_auth_failure, rate_limit, refuse_failing_client
from transcription_platform.rendering import fields_of, project, render
from transcription_platform.roles import is_support_admin, visible_to
from transcription_platform.schemas import FormBool, error_responses, find_nul, nul_error
from transcription_platform.scopes import Scope, requires_scope
from transcription_platform.transcriptions import exports, services
from transcription_platform.transcriptions.error_codes import TranscriptionErrorCode
from transcription_platform.transcriptions.models import (
    Transcription,
    TranscriptionStatus,
    search_vector,
)
from transcription_platform.transcriptions.schemas import (
    SegmentOut,
    TranscriptExport,
    TranscriptionFilters,
    TranscriptionListItem,
    TranscriptionOut,
)
from transcription_platform.validators import LANGUAGE_PATTERN, normalize_language, upload_too_large

logger = logging.getLogger("transcription_platform.transcriptions")

router = Router(tags=["transcriptions"], auth=platform_auth)

#: The list's page, documented as ``@paginate`` would name it.
PAGE_SCHEMA = paged_schema(TranscriptionListItem)
#: Stored segments keep only their documented keys in answers.
SEGMENTS: TypeAdapter[list[SegmentOut]] = TypeAdapter(list[SegmentOut])

LANGUAGE_HELP = 'ISO 639 code such as en or pt-BR; "" = the settings\' language or detect.'

#: The fields of a list item, in the schema's order.
LIST_ITEM_FIELDS = tuple(TranscriptionListItem.model_fields)
#: The columns they are read from (``error`` is made of two).
LIST_FIELDS = [f for f in LIST_ITEM_FIELDS if f != "error"] + ["error_code", "error_message"]


AUDIO_MEDIA_TYPES = services.AUDIO_MEDIA_TYPES
AUDIO_MEDIA_TYPES_SERVED = (*dict.fromkeys(AUDIO_MEDIA_TYPES.values()), "application/octet-stream")
audio_media_type = services.audio_media_type


# --------------------------------------------------------------------------- upload


def _no_room_for_upload() -> Exception:
    return services.StorageUnavailable(
        "The upload could not be received (no room to store it); try again later."
    )


def _stream_uploads_to_disk(run: Any) -> Any:
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            uploads.stream_uploads_to_disk(request, disk_error=_no_room_for_upload)
        except PayloadTooLarge as exc:
            return response_for(exc)  # refused before reading a byte of the body
        response: HttpResponse = run(request, *args, **kwargs)
        if uploads.stopped_too_large(request):
            return response_for(upload_too_large())
        return response

    return wrapper


def _local_path(upload: UploadedFile) -> tuple[str, bool]:
    """A path to the uploaded bytes; True when we made a temporary copy to remove."""
    if hasattr(upload, "temporary_file_path"):
        return upload.temporary_file_path(), False
    # A site may swap the upload handlers: fall back to a copy on disk.
    handle, path = tempfile.mkstemp(suffix=os.path.splitext(upload.name or "")[1])
    with os.fdopen(handle, "wb") as out:
        for piece in upload.chunks():
            out.write(piece)
    return path, True


@router.post(
    "",
    operation_id="transcriptions_create",
    response={201: TranscriptionOut, **error_responses(400, 402, 413, 415)},
    summary="Upload audio and start a transcription",
    description=(
        "Multipart upload. Validates size, format (a real audio probe) and duration "
        "before storing. Send an `Idempotency-Key` header to make retries safe: the same "
        "key within 24 h returns the original transcription. `analyze=true` (or `false`) "
        "runs (or skips) transcript analysis once transcribed; left out, the user's "
        "setting or the site default decides. `webhook_url` (with the notifications app) "
        "receives this job's events, signed with your request-webhook secret."
    ),
    openapi_extra={
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": (
                    "Any unique string (e.g. a UUID). Resending the same key within 24 h "
                    "returns the original transcription with `Idempotent-Replayed: true`."
                ),
            }
        ]
    },
)
@decorate_view(_stream_uploads_to_disk)
@rate_limit("transcription_create", "user")
@requires_scope(Scope.TRANSCRIBE)
def create_transcription(
    request: HttpRequest,
    response: HttpResponse,
    audio_file: Annotated[
        UploadedFile,
        # An empty part is no file to Django (422 "Field required"): the schema says so.
        WithJsonSchema({"type": "string", "format": "binary", "minLength": 1}),
        File(...),
    ],
    language: Annotated[
        str,
        WithJsonSchema({"type": "string", "pattern": LANGUAGE_PATTERN}),
        Form("", description=LANGUAGE_HELP),
    ] = "",
    prompt: Form[str] = "",
    engine: Form[str] = "",
    title: Form[str] = "",
    analyze: Annotated[FormBool, Form(default=None)] = None,
    webhook_url: Form[str] = "",
) -> Any:
    user = auth_principal(request)
    idempotency_key = (request.headers.get("Idempotency-Key") or "").strip()
    if len(idempotency_key) > 255:
        raise ValidationError(
            "Idempotency-Key is longer than 255 characters.",
            code=TranscriptionErrorCode.INVALID_IDEMPOTENCY_KEY,
        )
    if idempotency_key:
        existing = services.find_idempotent(user, idempotency_key)
        if existing is not None:
            return _created(request, response, existing, replayed=True)

    if webhook_url:
        services.check_webhook_url(webhook_url)
    path, remove_after = _local_path(audio_file)
    try:
        transcription, created = services.create_from_file(
            user,
            services.AudioFile(
                path=path,
                name=audio_file.name or "",
                size_bytes=(
                    audio_file.size if audio_file.size is not None else os.path.getsize(path)
                ),
                content_type=audio_file.content_type or "",
            ),
            engine=engine,
            language=language,
            prompt=prompt,
            title=title,
            idempotency_key=idempotency_key,
            analyze=analyze,
        )
    finally:
        if remove_after:
            os.unlink(path)
    if created and webhook_url:
        services.register_webhook_url(transcription, webhook_url)
    return _created(request, response, transcription, replayed=not created)


def _created(
    request: HttpRequest, response: HttpResponse, transcription: Transcription, *, replayed: bool
) -> Any:
    response["Location"] = request.build_absolute_uri(f"{request.path}{transcription.pk}")
    if replayed:
        response["Idempotent-Replayed"] = "true"
    else:
        log_action("created", request=request, obj=transcription)
    return Status(201, transcription)


# --------------------------------------------------------------------------- read


def _canonical_or_raw(language: str) -> str:
    try:
        return normalize_language(language)
    except ValidationError:
        return language.strip().lower()  # not a code: matches nothing, as before


def _filtered(
    queryset: QuerySet[Transcription], filters: TranscriptionFilters
) -> QuerySet[Transcription]:
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.language:
        # Stored in canonical form (pt-BR); detected languages are bare codes (pt).
        lang = _canonical_or_raw(filters.language)
        queryset = queryset.filter(Q(language=lang) | Q(detected_language=lang))
    if filters.created_after:
        queryset = queryset.filter(created_at__gte=filters.created_after)
    if filters.created_before:
        queryset = queryset.filter(created_at__lt=filters.created_before)
    if filters.updated_since:
        queryset = queryset.filter(updated_at__gte=filters.updated_since)
    if filters.search and filters.search.strip():
        queryset = _search(queryset, filters.search.strip())
    # A unique tie-breaker keeps pages stable when the ordering field repeats.
    tie_breaker = "-pk" if filters.ordering.startswith("-") else "pk"
    return queryset.order_by(filters.ordering, tie_breaker)


def _search(queryset: QuerySet[Transcription], query: str) -> QuerySet[Transcription]:
    if queryset.db == "default" and _is_postgres(queryset):
        from django.contrib.postgres.search import SearchQuery

        from transcription_platform.transcriptions.models import SEARCH_CONFIG

        return queryset.annotate(_search=search_vector()).filter(
            _search=SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        )
    # Fallback (SQLite…): every word must appear in the title or the transcript.
    for word in query.split()[:20]:
        word = word.strip('"')
        if word and word.lower() != "or":
            queryset = queryset.filter(Q(title__icontains=word) | Q(text__icontains=word))
    return queryset


def _is_postgres(queryset: QuerySet[Any]) -> bool:
    from django.db import connections

    return connections[queryset.db].vendor == "postgresql"


@router.get(
    "",
    operation_id="transcriptions_list",
    response=PAGE_SCHEMA,
    summary="List your transcriptions (paginated, filterable, searchable)",
)
def list_transcriptions(
    request: HttpRequest,
    filters: Query[TranscriptionFilters],
    pagination: Query[PageQuery],
) -> HttpResponse:
    user = auth_principal(request)

    def build() -> QuerySet[Transcription, dict[str, Any]]:
        visible = visible_to(Transcription.objects.all(), user, owner_field="owner")
        # Rows as dicts, not model instances: a page is read, never saved, and
        # building 20 models (deferred fields and all) cost more than encoding them.
        rows: QuerySet[Transcription, dict[str, Any]] = _filtered(visible, filters).values(
            *LIST_FIELDS
        )
        return rows

    if not any(getattr(filters, name) is not None for name in _FILTER_FIELDS):
        # The common request (a user's own list, any ordering): its SQL is compiled
        # once per process and shape; only the owner differs between users.
        using = Transcription.objects.db
        admin = is_support_admin(user)
        shape = ("transcriptions_list", filters.ordering, admin)
        params = () if admin else (user.pk,)
        page = page_of_shape(using, shape, params, build, pagination, request)
    else:
        page = page_of(build(), pagination, request)
    page["results"] = [_list_item(row) for row in page["results"]]
    return render(page)


#: The list's filters, the ordering aside (it is part of the shape).
_FILTER_FIELDS = tuple(name for name in TranscriptionFilters.model_fields if name != "ordering")


def _list_item(row: dict[str, Any]) -> dict[str, Any]:
    """A ``TranscriptionListItem`` from the row's ``LIST_FIELDS`` (schema order)."""
    code = row["error_code"]
    # Transcription.error, from the two columns it is made of.
    error = {"code": code, "message": row["error_message"]} if code else None
    return {name: error if name == "error" else row[name] for name in LIST_ITEM_FIELDS}


@router.get(
    "{uuid:transcription_id}",
    operation_id="transcriptions_get",
    response={200: TranscriptionOut, **error_responses(404)},
    summary="A transcription with its transcript and segments",
)
def get_transcription(request: HttpRequest, transcription_id: UUID) -> HttpResponse:
    transcription = services.get_transcription_for(auth_principal(request), transcription_id)
    if transcription.status == TranscriptionStatus.COMPLETED:
        # Audit reads of the transcript, not the status polls before it exists.
        log_action("viewed", request=request, obj=transcription, deferred=True)
    for hook in imported_by_apps("transcription_detail_hooks"):
        hook(transcription)  # e.g. billing: cost and billed steps join the engine's usage
    return render(transcription_out(transcription))


def transcription_out(transcription: Transcription) -> dict[str, Any]:
    """The ``TranscriptionOut`` of ``transcription``, without a validation pass."""
    segments = project(SEGMENTS, transcription.segments)
    return fields_of(transcription, TranscriptionOut, segments=segments)


@router.delete(
    "{uuid:transcription_id}",
    operation_id="transcriptions_delete",
    response={204: None, **error_responses(404)},
    summary="Delete a transcription and its audio",
)
def delete_transcription(request: HttpRequest, transcription_id: UUID) -> Status[None]:
    transcription = services.get_transcription_for(auth_principal(request), transcription_id)
    services.delete_transcription(transcription)
    log_action(
        "deleted",
        request=request,
        object_type=Transcription._meta.label_lower,
        object_id=transcription_id,
    )
    return Status(204, None)


@router.post(
    "{uuid:transcription_id}/retry",
    operation_id="transcriptions_retry",
    response={200: TranscriptionOut, **error_responses(404, 409)},
    summary="Retry a failed transcription (409 unless failed)",
)
@requires_scope(Scope.TRANSCRIBE)
def retry_transcription(request: HttpRequest, transcription_id: UUID) -> Transcription:
    transcription = services.get_transcription_for(auth_principal(request), transcription_id)
    if transcription.status != TranscriptionStatus.FAILED:
        raise services.IllegalTransition(
            "Only a failed transcription can be retried.", details={"status": transcription.status}
        )
    transcription = services.retry(transcription)
    log_action("retried", request=request, obj=transcription)
    return transcription


@router.post(
    "{uuid:transcription_id}/cancel",
    operation_id="transcriptions_cancel",
    response={200: TranscriptionOut, **error_responses(404, 409)},
    summary="Cancel a pending or processing transcription (409 otherwise)",
)
@requires_scope(Scope.TRANSCRIBE)
def cancel_transcription(request: HttpRequest, transcription_id: UUID) -> Transcription:
    transcription = services.get_transcription_for(auth_principal(request), transcription_id)
    transcription = services.cancel(transcription)
    log_action("cancelled", request=request, obj=transcription)
    return transcription


@router.get(
    "{uuid:transcription_id}/audio",
    operation_id="transcriptions_audio",
    response={200: None, **error_responses(404, 416)},
    summary="Download the original audio (streamed, with byte ranges)",
    description=(
        "Served with the media type of the container the upload probe found "
        "(e.g. `audio/mpeg`, `audio/wav`, `audio/flac`, `audio/ogg`), "
        "`application/octet-stream` for any other; never the type the uploader declared. "
        "Byte ranges are served (`Range: bytes=start-end`, one range): 206 with "
        "`Content-Range`, 416 `range_not_satisfiable` past the end."
    ),
    openapi_extra={
        "responses": {
            200: {
                "description": "The audio file, as an attachment",
                "content": {
                    media: {"schema": {"type": "string", "format": "binary"}}
                    for media in AUDIO_MEDIA_TYPES_SERVED
                },
            }
        }
    },
)
def download_audio(request: HttpRequest, transcription_id: UUID) -> HttpResponseBase:
    transcription = services.get_transcription_for(auth_principal(request), transcription_id)
    handle, size, content_type = services.open_audio(transcription)
    # A seeking player or a resumed download asks for many ranges: audited once, on the
    # request for the whole file or for its start.
    asked = request.headers.get("Range", "").replace(" ", "")
    if not asked.startswith("bytes=") or asked.startswith("bytes=0-"):
        log_action("audio_downloaded", request=request, obj=transcription)
    return ranged_response(
        request, handle, size, content_type, filename=transcription.original_filename
    )


@router.get(
    "{uuid:transcription_id}/export",
    operation_id="transcriptions_export",
    # The JSON variant's schema comes from here; the text formats are added below.
    response={200: TranscriptExport, **error_responses(404, 409)},
    summary="Download the transcript as txt, srt, vtt or json",
    openapi_extra={
        "responses": {
            200: {
                "description": "The transcript as an attachment, in the requested format",
                "content": {
                    media: {"schema": {"type": "string"}}
                    for media in ("text/plain", "application/x-subrip", "text/vtt")
                },
            }
        }
    },
)
def export_transcription(
    request: HttpRequest, transcription_id: UUID, format: Query[exports.ExportFormat] = "txt"
) -> HttpResponse:
    transcription = services.get_transcription_for(auth_principal(request), transcription_id)
    if transcription.status != TranscriptionStatus.COMPLETED:
        raise services.NotCompleted(details={"status": transcription.status})
    export = exports.render(transcription, format)
    log_action("exported", request=request, obj=transcription, meta={"format": format})
    response = HttpResponse(export.content, content_type=export.content_type)
    response["Content-Disposition"] = content_disposition_header(True, export.filename)
    return response


# --------------------------------------------------------------------------- callbacks

#: ``/callbacks/``: providers of asynchronous engines report finished jobs here. Not a
#: user's API: the engine's bearer token authenticates the caller (checked by
#: `services.handle_engine_callback`, in constant time), not platform_auth.
callbacks_router = Router(tags=["callbacks"], auth=None)


class CallbackOut(Schema):
    status: Literal["completed", "failed", "duplicate"]


@callbacks_router.post(
    "/{engine}/",
    operation_id="callbacks_receive",
    response={200: CallbackOut, **error_responses(400, 401, 404, 429, 502)},
    summary="An asynchronous engine's provider reports a finished remote job",
)
def engine_callback(request: HttpRequest, engine: str) -> dict[str, Any]:
    try:
        payload = json.loads(request.body or b"null")
    except ValueError as exc:
        raise ValidationError(
            "The callback body must be JSON.",
            code=TranscriptionErrorCode.INVALID_CALLBACK,
            details={"body": str(exc)},
        ) from exc
    # The body is read here, not by ninja's parser: the platform's NUL rule, by hand.
    if paths := list(find_nul(payload)):
        raise nul_error("body", paths)
    # A wrong token counts against the caller's auth_failure limit, as a wrong API key
    # does: guessing an engine's token is as slow as guessing a key.
    refuse_failing_client(request)
    try:
        outcome = services.handle_engine_callback(
            engine, request.headers.get("Authorization"), payload
        )
    except AuthenticationFailed:
        count_auth_failure(request)
        raise
    return {"status": outcome}
