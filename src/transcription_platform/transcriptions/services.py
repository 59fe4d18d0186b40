"""Transcription lifecycle: every status change happens here, inside a row lock.

pending ──► processing ──► completed
   │            │  └─────► failed ──(retry)──► pending
   └────────────┴────────► cancelled
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.core.files import File
from django.db import IntegrityError, connections, router, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from transcription_platform import compiled, signals
from transcription_platform.audit.services import log_action
from transcription_platform.conf import settings
from transcription_platform.engines import (
    AudioInfo,
    EngineError,
    SpeechEngine,
    TranscriptResult,
    engine_names,
    get_engine,
)
from transcription_platform.engines.error_codes import EngineErrorCode
from transcription_platform.exceptions import (
    AuthenticationFailed,
    BackendError,
    Conflict,
    NotFound,
    ServiceUnavailable,
    ValidationError,
)
from transcription_platform.hooks import imported_by_apps
from transcription_platform.roles import is_support_admin
from transcription_platform.shortcuts import get_or_not_found
from transcription_platform.transcriptions import validation
from transcription_platform.transcriptions.error_codes import TranscriptionErrorCode
from transcription_platform.transcriptions.exports import (
    ExportFormat as ExportFormat,  # re-exported: the formats other apps may ask for
)
from transcription_platform.transcriptions.models import (
    ChunkStatus,
    TranscriptionChunk,
    audio_storage,
)

# Re-exported: other apps name the model and read statuses through this facade.
from transcription_platform.transcriptions.models import Transcription as Transcription
from transcription_platform.transcriptions.models import (
    TranscriptionStatus as TranscriptionStatus,
)
from transcription_platform.transcriptions.validation import JobOptions
from transcription_platform.validators import check_upload_size

logger = logging.getLogger("transcription_platform.transcriptions")

_NOT_FOUND = "Transcription not found."

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    TranscriptionStatus.PENDING: frozenset(
        {TranscriptionStatus.PROCESSING, TranscriptionStatus.FAILED, TranscriptionStatus.CANCELLED}
    ),
    TranscriptionStatus.PROCESSING: frozenset(
        {TranscriptionStatus.COMPLETED, TranscriptionStatus.FAILED, TranscriptionStatus.CANCELLED}
    ),
    TranscriptionStatus.FAILED: frozenset({TranscriptionStatus.PENDING}),
    TranscriptionStatus.COMPLETED: frozenset(),
    TranscriptionStatus.CANCELLED: frozenset(),
}


class IllegalTransition(Conflict):
    code = TranscriptionErrorCode.ILLEGAL_TRANSITION


class NotCompleted(Conflict):
    """Asked for what only a completed transcription has (its export, its analysis)."""

    code = TranscriptionErrorCode.NOT_COMPLETED
    default_message = "The transcript is not ready yet."


def _send_on_commit(signal: Any, transcription: Transcription, **kwargs: Any) -> None:
    """Send a lifecycle signal: now to the receivers connected ``in_transaction`` (their
    writes join the caller's transaction: no transaction of their own per job event),
    to the others once the transaction commits. Call it inside the transaction."""
    using = router.db_for_write(Transcription)
    signal.send_in_transaction(
        sender=Transcription, transcription=transcription, using=using, **kwargs
    )
    transaction.on_commit(
        lambda: signal.send_after_commit(
            sender=Transcription, transcription=transcription, **kwargs
        ),
        using=using,
    )


def _transition(pk: Any, to: str, **fields: Any) -> Transcription:
    """Move ``pk`` to status ``to`` under a row lock; IllegalTransition if not allowed."""
    with transaction.atomic():
        transcription = Transcription.objects.select_for_update().get(pk=pk)
        return _apply_transition(transcription, to, **fields)


def _apply_transition(transcription: Transcription, to: str, **fields: Any) -> Transcription:
    """`_transition` for a row the caller already holds locked (read with
    ``select_for_update`` in its transaction): no second read, no savepoint."""
    if to not in ALLOWED_TRANSITIONS[transcription.status]:
        raise IllegalTransition(
            f"A {transcription.status} transcription cannot become {to}.",
            details={"status": transcription.status},
        )
    transcription.status = to
    for name, value in fields.items():
        setattr(transcription, name, value)
    transcription.save()
    return transcription


#: Media type served for each PyAV demuxer name the upload probe records. The type the
#: uploader sent is never echoed back: it is unchecked client input.
AUDIO_MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mov,mp4,m4a,3gp,3g2,mj2": "audio/mp4",
    "matroska,webm": "audio/webm",
    "aac": "audio/aac",
    "aiff": "audio/aiff",
}


def audio_media_type(container: str) -> str:
    """The media type to serve audio of the probed ``container`` with.

    Args:
        container: PyAV's demuxer name, as stored in ``Transcription.audio_info``.

    Returns:
        An ``audio/*`` type, or ``application/octet-stream`` for any other container.
    """
    return AUDIO_MEDIA_TYPES.get(container, "application/octet-stream")


# --------------------------------------------------------------------------- queries


def get_transcription_for(user: Any, pk: Any) -> Transcription:
    """The transcription or NotFound — also for another user's id (never a 403).

    One query for the owner (clients poll this): roles are looked up only when the
    caller is not the owner, to let support admins through.
    """
    found: Transcription | None
    if isinstance(pk, UUID):
        # The detail, polled by clients: its SQL is compiled once per process.
        using = Transcription.objects.db
        value = Transcription._meta.pk.get_db_prep_value(pk, connections[using])
        found = compiled.first_instance(
            using,
            "transcription_by_pk",
            (value,),
            lambda: Transcription.objects.filter(pk=pk)[:1],
        )
        if found is None:
            raise NotFound(_NOT_FOUND)
        transcription = found
    else:
        transcription = get_or_not_found(Transcription.objects.all(), _NOT_FOUND, pk=pk)
    if transcription.owner_id != getattr(user, "pk", None) and not is_support_admin(user):
        raise NotFound(_NOT_FOUND)
    return transcription


def require_completed(
    transcription_id: Any, *, message: str | None = None, lock: bool = False
) -> Transcription:
    """The transcription, if it is completed.

    Other apps call this instead of reading (or locking) ``Transcription`` rows
    themselves.

    Args:
        transcription_id: Primary key of the transcription.
        message: What the 409 says, when the caller has a better word for it.
        lock: Lock the row (``SELECT … FOR UPDATE``) until the caller's transaction
            ends, so it cannot be deleted or change status meanwhile.

    Returns:
        The completed transcription.

    Raises:
        NotFound: There is no such transcription.
        NotCompleted: It exists but is not completed (409 ``not_completed``).
    """
    rows = Transcription.objects.select_for_update() if lock else Transcription.objects.all()
    transcription = get_or_not_found(rows, _NOT_FOUND, pk=transcription_id)
    if transcription.status != TranscriptionStatus.COMPLETED:
        raise NotCompleted(message, details={"status": transcription.status})
    return transcription


def all_transcriptions() -> QuerySet[Transcription]:
    """Every transcription, for jobs that read history in bulk (analytics' backfill)."""
    return Transcription.objects.all()


def find_transcription(transcription_id: Any) -> Transcription | None:
    """The transcription with this id, or None (deleted meanwhile), for tasks of other apps.

    Args:
        transcription_id: Primary key of the transcription.

    Returns:
        The transcription or None.
    """
    return Transcription.objects.filter(pk=transcription_id).first()


# --------------------------------------------------------------------------- create


def find_idempotent(owner: Any, key: str) -> Transcription | None:
    """The transcription created by ``owner`` with ``key`` within IDEMPOTENCY_TTL_SECONDS."""
    if not key:
        return None
    return Transcription.objects.filter(
        owner=owner, idempotency_key=key, created_at__gte=idempotency_cutoff()
    ).first()


def idempotency_cutoff() -> Any:
    """Rows created before this no longer answer for their Idempotency-Key."""
    return timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)


@dataclass(frozen=True)
class AudioFile:
    """An audio file on this machine's disk, as its client named and typed it."""

    path: str | os.PathLike[str]
    name: str
    size_bytes: int
    content_type: str = ""


def create_from_file(
    owner: Any,
    audio: AudioFile,
    *,
    engine: str = "",
    language: str = "",
    prompt: str = "",
    title: str = "",
    idempotency_key: str = "",
    analyze: bool | None = None,
    enqueue: bool = True,
) -> tuple[Transcription, bool]:
    """Validate an audio file and the requested options, then create its transcription.

    What the upload API and the ``transcribe`` command both do, in the same order, so
    they refuse the same input with the same errors: options (falling back to the
    owner's settings), size, a real audio probe (and duration), then
    `create_transcription`.

    Args:
        owner: The user the transcription belongs to.
        audio: The file; its ``name`` is cleaned of paths and control characters.
        engine: Requested engine name; "" for the owner's or the site's default.
        language: Requested language; "" for the owner's default or detection.
        prompt: Requested prompt; "" for the owner's default.
        title: Title of the transcription.
        idempotency_key: Makes a repeated request return the first transcription.
        analyze: Ask for (True) or against (False) analysis; None: owner's or site's choice.
        enqueue: False when the caller runs the job itself (the ``transcribe`` command).

    Returns:
        ``(transcription, created)``; ``created`` is False for an idempotent replay.

    Raises:
        ValidationError: An option is invalid, or the audio is too long.
        PayloadTooLarge: The file is larger than ``MAX_UPLOAD_BYTES``.
        InvalidAudio: The file is not usable audio.
    """
    options = validation.validated_options(
        owner, engine=engine, language=language, prompt=prompt, title=title
    )
    check_upload_size(audio.size_bytes)
    info = validation.probe_audio(str(audio.path), audio.size_bytes)
    return create_transcription(
        owner=owner,
        audio=AudioFile(
            path=audio.path,
            name=validation.clean_filename(audio.name),
            size_bytes=audio.size_bytes,
            content_type=audio.content_type[:100],
        ),
        info=info,
        options=options,
        idempotency_key=idempotency_key,
        analyze=analyze,
        enqueue=enqueue,
    )


def create_transcription(
    *,
    owner: Any,
    audio: AudioFile,
    info: AudioInfo | None,
    options: JobOptions,
    idempotency_key: str = "",
    analyze: bool | None = None,
    enqueue: bool = True,
) -> tuple[Transcription, bool]:
    """Store the audio, create the row and enqueue its job atomically (no validation:
    see `create_from_file`).

    Returns ``(transcription, created)``; ``created`` is False when ``idempotency_key``
    replays an earlier request. If anything fails, the stored file is deleted.
    ``info`` is the probe of the file (None: not probed). ``analyze`` asks for (True)
    or against (False) analysis of the transcript; None leaves it to the owner's
    setting, else the site's ``ANALYSIS_ENABLED``. ``enqueue=False`` is for a caller
    that runs the job itself, in its own process (the ``transcribe`` command); should
    it die, stuck-job recovery enqueues the job.
    """
    from transcription_platform.transcriptions import tasks

    stored_name: str | None = None
    try:
        with transaction.atomic():
            if idempotency_key:
                existing = find_idempotent(owner, idempotency_key)
                if existing is not None:
                    return existing, False
                # An expired key may be reused: release it from the old row — only from
                # a row older than the cutoff. Without the cutoff a concurrent request
                # that committed a moment ago would lose its key here, and this one
                # would insert a second transcription instead of hitting the unique
                # constraint (and replaying the first).
                Transcription.objects.filter(
                    owner=owner,
                    idempotency_key=idempotency_key,
                    created_at__lt=idempotency_cutoff(),
                ).update(idempotency_key="")
            transcription = Transcription(
                owner=owner,
                title=options.title,
                original_filename=audio.name,
                size_bytes=audio.size_bytes,
                content_type=audio.content_type,
                audio_info=asdict(info) if info is not None else {},
                duration=info.duration if info is not None else None,
                engine=options.engine,
                language=options.language,
                prompt=options.prompt,
                idempotency_key=idempotency_key,
                analyze=analyze,
            )
            # Inside this transaction: a hook that refuses (billing's 402) stores nothing.
            for hook in imported_by_apps("transcription_create_hooks"):
                hook(
                    owner=owner,
                    transcription_id=transcription.pk,
                    engine=transcription.engine,
                    duration=transcription.duration,
                )
            _store_audio(transcription, audio)
            stored_name = transcription.audio.name
            transcription.save(force_insert=True)
            # The signal first: a job run on commit (sync mode) reports after it.
            _send_on_commit(signals.transcription_created, transcription)
            if enqueue:
                tasks.enqueue_transcription(transcription)
    except IntegrityError:
        _delete_file(stored_name)
        # Lost a race with a concurrent request carrying the same Idempotency-Key.
        existing = find_idempotent(owner, idempotency_key)
        if existing is None:
            raise
        return existing, False
    except BaseException as exc:
        _delete_file(stored_name)
        _after_rollback(exc)
        raise
    return transcription, True


class StorageUnavailable(ServiceUnavailable):
    """503: the audio could not be written to the storage (full disk, S3 outage...)."""

    code = TranscriptionErrorCode.STORAGE_UNAVAILABLE
    default_message = "The audio could not be stored; try again later."


def _store_audio(transcription: Transcription, audio: AudioFile) -> None:
    """Write the upload to the audio storage, or raise `StorageUnavailable` leaving no
    file behind (a write that failed half-way — a full disk — leaves a partial file)."""
    # The name the storage will use: upload_to names files by the transcription's id,
    # so it is new and the storage keeps it as is.
    name = transcription.audio.field.generate_filename(transcription, audio.name)
    try:
        with open(audio.path, "rb") as handle:
            transcription.audio.save(audio.name, File(handle), save=False)
    except Exception as exc:
        logger.exception("Could not store the audio of %s", transcription.pk)
        try:
            if audio_storage().exists(name):
                _delete_file(name)
        except Exception:
            logger.exception("Could not check for a partial file %s", name)
        raise StorageUnavailable() from exc


def _after_rollback(refusal: BaseException) -> None:
    """Run what a create hook that refused asked to run once the create's transaction
    is rolled back (billing's ``quota_exceeded`` signal): its ``after_rollback``."""
    for callback in getattr(refusal, "after_rollback", ()):
        try:
            callback()
        except Exception:
            # The refusal is the answer; a failing listener must not turn it into a 500.
            logger.exception("A create refusal's after-rollback callback failed")


def finished_chunk_texts(transcription: Transcription) -> list[str]:
    """Texts of the chunks transcribed so far, in order, up to the first unfinished one.

    Args:
        transcription: A transcription, in any status.

    Returns:
        One text per finished chunk, contiguous from the first chunk (a later chunk that
        finished early waits for its predecessors, so the texts read in order).
    """
    texts = []
    chunks = TranscriptionChunk.objects.filter(transcription=transcription).order_by("index")
    for chunk in chunks.only("index", "status", "result"):
        if chunk.status != ChunkStatus.DONE or not isinstance(chunk.result, dict):
            break
        texts.append(str(chunk.result.get("text", "")).strip())
    return texts


def render_export(transcription: Transcription, fmt: ExportFormat) -> str:
    """The transcript in ``fmt`` (``txt``, ``srt``, ``vtt`` or ``json``) as the export
    endpoint returns it.

    Args:
        transcription: A completed transcription.
        fmt: The export format.

    Returns:
        The exported text.
    """
    from transcription_platform.transcriptions import exports

    return exports.render(transcription, fmt).content.decode("utf-8")


def _delete_file(name: str | None) -> None:
    if not name:
        return
    try:
        audio_storage().delete(name)
    except Exception:
        logger.exception("Could not delete stored audio %s", name)


# --------------------------------------------------------------------------- pipeline


def start_processing(pk: Any) -> Transcription | None:
    """pending → processing (or resume a re-delivered processing job); None when the
    job has nothing left to do (finished, cancelled or deleted)."""
    # No savepoint inside a caller's transaction (the pipeline's): one unit with it.
    with transaction.atomic(savepoint=False):
        try:
            transcription = Transcription.objects.select_for_update().get(pk=pk)
        except Transcription.DoesNotExist:
            return None
        # heartbeat_at starts the planning lease (see tasks.LeaseKeeper).
        if transcription.status == TranscriptionStatus.PROCESSING:
            transcription.attempts = F("attempts") + 1
            transcription.heartbeat_at = timezone.now()
            transcription.save(update_fields=["attempts", "heartbeat_at", "updated_at"])
            transcription.refresh_from_db()
            return transcription
        if transcription.status != TranscriptionStatus.PENDING:
            return None
        transcription = _apply_transition(
            transcription,
            TranscriptionStatus.PROCESSING,
            started_at=timezone.now(),
            heartbeat_at=timezone.now(),
            attempts=transcription.attempts + 1,
            progress=0,
        )
        _send_on_commit(signals.transcription_started, transcription)
        return transcription


def set_progress(pk: Any, progress: int, *, transcription: Transcription | None = None) -> bool:
    """Move a processing job's ``progress`` forward (never back; at most 99) and send
    ``transcription_progress``, in one transaction (the caller's, if it has one).

    Args:
        pk: The transcription's primary key.
        progress: The new value.
        transcription: The caller's instance of the job (processing), sent with the
            signal instead of reading the row again.

    Returns:
        True when the progress moved.
    """
    with transaction.atomic(savepoint=False):
        now = timezone.now()
        progress = min(progress, 99)
        # Only moves forward, and bumps updated_at so stuck-job recovery sees the work.
        moved = Transcription.objects.filter(
            pk=pk, status=TranscriptionStatus.PROCESSING, progress__lt=progress
        ).update(progress=progress, updated_at=now)
        if moved and signals.transcription_progress.has_listeners(Transcription):
            if transcription is not None:
                transcription.progress, transcription.updated_at = progress, now
            else:
                transcription = Transcription.objects.filter(pk=pk).first()
            if transcription is not None:
                _send_on_commit(signals.transcription_progress, transcription)
    return bool(moved)


def record_plan(pk: Any, duration: float | None) -> bool:
    """A processing job's decoded ``duration`` (None: nothing decoded), one statement.

    Returns:
        False when the job is no longer processing (cancelled or deleted meanwhile).
    """
    fields: dict[str, Any] = {"updated_at": timezone.now()}
    if duration is not None:
        fields["duration"] = duration
    rows = Transcription.objects.filter(pk=pk, status=TranscriptionStatus.PROCESSING)
    return bool(rows.update(**fields))


def complete(
    pk: Any, result: TranscriptResult, *, locked: Transcription | None = None
) -> Transcription | None:
    """Save the transcript and mark completed — exactly once (None if not processing).

    Args:
        pk: The transcription's primary key.
        result: The stitched transcript.
        locked: The row, when the caller's transaction already holds it locked
            (``select_for_update``): completed in that transaction, not read again.
    """
    # No savepoint inside a caller's transaction: the completion is one unit with it.
    with transaction.atomic(savepoint=False):
        transcription = locked or Transcription.objects.select_for_update().get(pk=pk)
        if transcription.status != TranscriptionStatus.PROCESSING:
            return None
        data = result.to_dict()
        transcription = _apply_transition(
            transcription,
            TranscriptionStatus.COMPLETED,
            text=result.text,
            segments=data["segments"],
            detected_language=result.language or "",
            model=result.model,
            usage=data.get("usage") or {},
            progress=100,
            completed_at=timezone.now(),
            error_code="",
            error_message="",
        )
        _send_on_commit(signals.transcription_completed, transcription)
        return transcription


def fail(pk: Any, code: str, message: str) -> Transcription | None:
    """Mark failed with a code and a message the user can read (None if already final)."""
    with transaction.atomic():
        try:
            transcription = Transcription.objects.select_for_update().get(pk=pk)
        except Transcription.DoesNotExist:
            return None
        if TranscriptionStatus.FAILED not in ALLOWED_TRANSITIONS[transcription.status]:
            return None
        transcription = _apply_transition(
            transcription,
            TranscriptionStatus.FAILED,
            error_code=code,
            error_message=message,
            completed_at=timezone.now(),
        )
        _send_on_commit(
            signals.transcription_failed,
            transcription,
            error_code=code,
            error_message=message,
        )
        return transcription


def handle_engine_callback(engine_name: str, authorization: str | None, payload: Any) -> str:
    """A provider's callback for an asynchronous engine (``POST /callbacks/<engine>/``).

    Idempotent: a callback for a chunk already stored (a duplicate, or a race with an
    identical one) changes nothing.

    Args:
        engine_name: The engine's alias in ``ENGINES``.
        authorization: The request's ``Authorization`` header (``Bearer <token>``).
        payload: The JSON-decoded body, read by the engine's ``parse_callback``.

    Returns:
        ``"completed"`` (result stored), ``"failed"`` (the provider reported a failure
        and the job failed) or ``"duplicate"`` (nothing to do).

    Raises:
        NotFound: No such engine, an engine that takes no callbacks, or no chunk waits
            on the remote id.
        AuthenticationFailed: The bearer token is missing or wrong.
        ValidationError: The engine refused the payload.
        BackendError: Fetching the result from the provider failed (502); the provider
            may call again.
    """
    from transcription_platform.transcriptions import tasks  # tasks imports us

    if engine_name not in engine_names():
        raise NotFound(f"No engine {engine_name!r}.", code=TranscriptionErrorCode.UNKNOWN_ENGINE)
    engine = get_engine(engine_name)
    if not engine.supports_callbacks:
        raise NotFound(
            f"Engine {engine_name!r} takes no callbacks.",
            code=TranscriptionErrorCode.UNKNOWN_ENGINE,
        )
    _check_callback_token(engine, authorization)
    try:
        event = engine.parse_callback(payload)
    except ValidationError as exc:
        raise ValidationError(
            exc.message, code=TranscriptionErrorCode.INVALID_CALLBACK, details=exc.details
        ) from exc
    chunk = (
        TranscriptionChunk.objects.filter(
            remote_id=event.remote_id, transcription__engine=engine_name
        )
        .select_related("transcription")
        .first()
    )
    if chunk is None:
        raise NotFound(
            "No job waits on this remote id.",
            code=TranscriptionErrorCode.UNKNOWN_REMOTE_JOB,
            details={"id": event.remote_id},
        )
    if (
        chunk.status == ChunkStatus.DONE
        or chunk.transcription.status != TranscriptionStatus.PROCESSING
    ):
        return "duplicate"
    if event.failed:
        failed = fail(
            chunk.transcription_id,
            EngineErrorCode.ENGINE_REJECTED,
            event.error_message or "The speech provider could not transcribe the audio.",
        )
        return "failed" if failed is not None else "duplicate"
    try:
        result = engine.fetch_result(event.remote_id)
    except EngineError as exc:
        logger.warning(
            "Fetching remote job %s from engine %s failed: %s (status %s)",
            event.remote_id,
            engine_name,
            exc.code,
            exc.provider_status,
        )
        raise BackendError(
            "The speech provider's result could not be fetched; call again later.",
            code=TranscriptionErrorCode.CALLBACK_UPSTREAM_FAILED,
            details={"upstream_status": exc.provider_status, "upstream_code": exc.code},
            alias=engine_name,
            provider_status=exc.provider_status,
        ) from exc
    return "completed" if tasks.store_remote_result(chunk, event.remote_id, result) else "duplicate"


def _check_callback_token(engine: SpeechEngine, authorization: str | None) -> None:
    scheme, _, presented = (authorization or "").partition(" ")
    expected = engine.callback_token
    # compare_digest: the time taken says nothing about how much of the token matched.
    # An engine without a token refuses every callback.
    if not (
        expected
        and scheme.lower() == "bearer"
        and hmac.compare_digest(presented.strip().encode(), expected.encode())
    ):
        raise AuthenticationFailed(
            "A valid bearer token is required.",
            code=TranscriptionErrorCode.CALLBACK_UNAUTHORIZED,
        )


def cancel(transcription: Transcription) -> Transcription:
    with transaction.atomic():
        transcription = _transition(
            transcription.pk, TranscriptionStatus.CANCELLED, completed_at=timezone.now()
        )
        _send_on_commit(signals.transcription_cancelled, transcription)
    return transcription


def retry(transcription: Transcription) -> Transcription:
    """failed → pending and enqueue; chunks already transcribed are kept."""
    from transcription_platform.transcriptions import tasks

    with transaction.atomic():
        transcription = _transition(
            transcription.pk,
            TranscriptionStatus.PENDING,
            error_code="",
            error_message="",
            completed_at=None,
            attempts=0,
        )
        # Unfinished chunks (held, or waiting for a scheduled retry) start afresh.
        TranscriptionChunk.objects.filter(transcription=transcription).exclude(
            status=ChunkStatus.DONE
        ).update(status=ChunkStatus.PENDING, claimed_at=None, attempts=0)
        _send_on_commit(signals.transcription_retried, transcription)
        tasks.enqueue_transcription(transcription)
    return transcription


def delete_transcription(transcription: Transcription) -> None:
    """Delete the row now and its audio file once the deletion is committed."""
    name = transcription.audio.name
    with transaction.atomic():
        transcription.delete()
        transaction.on_commit(lambda: _delete_file(name))


FINISHED = (
    TranscriptionStatus.COMPLETED,
    TranscriptionStatus.FAILED,
    TranscriptionStatus.CANCELLED,
)


def purge_finished_before(cutoff: Any, *, batch_size: int = 500) -> int:
    """Delete finished transcriptions created before ``cutoff`` and their audio
    (retention). Jobs still pending or processing are never purged."""
    deleted = 0
    while True:
        batch = list(
            Transcription.objects.filter(status__in=FINISHED, created_at__lt=cutoff).order_by(
                "created_at"
            )[:batch_size]
        )
        if not batch:
            return deleted
        for transcription in batch:
            _audit_retention_delete(transcription)
            delete_transcription(transcription)
        deleted += len(batch)


def _audit_retention_delete(transcription: Transcription) -> None:
    # log_action is a no-op when the optional audit app is not installed.
    log_action("deleted", obj=transcription, meta={"reason": "retention"})


@contextmanager
def local_audio_path(transcription: Transcription) -> Iterator[str]:
    """A local path to the audio: the file itself on disk storage, else a temporary
    copy streamed from the remote storage (S3…) and removed afterwards."""
    storage = audio_storage()
    name = transcription.audio.name
    if not name:
        raise FileNotFoundError(f"Transcription {transcription.pk} has no audio file.")
    try:
        path = storage.path(name)
    except NotImplementedError:
        path = None
    # Some storages return a path that isn't a real file (InMemoryStorage): check.
    if path is not None and os.path.isfile(path):
        yield path
        return
    import shutil
    import tempfile

    suffix = os.path.splitext(name)[1]
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        with storage.open(name, "rb") as src:
            shutil.copyfileobj(src, tmp, length=1024 * 1024)
        tmp.flush()
        yield tmp.name


def transcription_payload(transcription: Transcription) -> dict[str, Any]:
    """``transcription`` as ``GET /transcriptions/{id}`` returns it (JSON-ready), for
    apps that publish it elsewhere (webhooks)."""
    import copy

    from transcription_platform.hooks import imported_by_apps
    from transcription_platform.schemas import as_api_json
    from transcription_platform.transcriptions.schemas import TranscriptionOut

    # The detail hooks (billing's cost…) edit the instance: give them a copy, since the
    # caller's instance is shared with the other receivers of the same signal.
    transcription = copy.copy(transcription)
    transcription.usage = dict(transcription.usage or {})
    for hook in imported_by_apps("transcription_detail_hooks"):
        hook(transcription)
    return as_api_json(TranscriptionOut, transcription)


def check_webhook_url(url: str) -> None:
    """Validate a per-request ``webhook_url`` before anything is stored.

    The validators come from the installed apps (``transcription_webhook_url_validators``
    on their ``AppConfig``: the notifications app declares one).

    Raises:
        ValidationError: no installed app sends webhooks, or the URL is refused.
    """
    validators = imported_by_apps("transcription_webhook_url_validators")
    if not validators:
        raise ValidationError(
            "webhook_url needs the notifications app.",
            code=TranscriptionErrorCode.WEBHOOKS_UNAVAILABLE,
        )
    for validate in validators:
        validate(url)


def register_webhook_url(transcription: Transcription, url: str) -> None:
    """Send ``transcription``'s events to ``url`` (call inside the creating transaction)."""
    for register in imported_by_apps("transcription_webhook_url_registrars"):
        register(transcription.owner, transcription.pk, url)


# --------------------------------------------------------------------------- staff figures


def queue_snapshot(*, failures_since: Any = None) -> dict[str, Any]:
    """The job queue as staff see it, over every owner's transcriptions.

    Args:
        failures_since: Count failures updated at or after this time (default: the last
            seven days).

    Returns:
        ``waiting`` and ``running`` job counts, ``oldest_waiting_seconds`` (None when
        nothing waits) and ``failures_by_code``: ``[{"code", "count"}]``, most first.
    """
    from django.db.models import Count

    now = timezone.now()
    since = failures_since if failures_since is not None else now - timedelta(days=7)
    jobs = Transcription.objects.all()
    oldest = (
        jobs.filter(status=TranscriptionStatus.PENDING)
        .order_by("created_at")
        .values_list("created_at")[:1]
    )
    failures = (
        jobs.filter(status=TranscriptionStatus.FAILED, updated_at__gte=since)
        .values("error_code")
        .annotate(count=Count("pk"))
        .order_by("-count", "error_code")
    )
    return {
        "waiting": jobs.filter(status=TranscriptionStatus.PENDING).count(),
        "running": jobs.filter(status=TranscriptionStatus.PROCESSING).count(),
        "oldest_waiting_seconds": (now - oldest[0][0]).total_seconds() if oldest else None,
        "failures_by_code": [
            {"code": row["error_code"] or "unknown", "count": row["count"]} for row in failures
        ],
    }


def engine_performance(since: Any) -> list[dict[str, Any]]:
    """Per engine, the jobs created at or after ``since``.

    Args:
        since: Start of the period (an aware datetime).

    Returns:
        One dict per engine, most jobs first: ``engine``, ``jobs``, ``completed``,
        ``failed``, ``audio_seconds`` (of completed jobs) and ``processing_seconds``
        (their total time from start to completion), from which a caller derives the
        real-time factor.
    """
    from django.db.models import Count, DurationField, ExpressionWrapper, Q, Sum

    done = Q(status=TranscriptionStatus.COMPLETED)
    rows = (
        Transcription.objects.filter(created_at__gte=since)
        .values("engine")
        .annotate(
            jobs=Count("pk"),
            completed=Count("pk", filter=done),
            failed=Count("pk", filter=Q(status=TranscriptionStatus.FAILED)),
            audio_seconds=Sum("duration", filter=done),
            processing=Sum(
                ExpressionWrapper(F("completed_at") - F("started_at"), DurationField()),
                filter=done & Q(started_at__isnull=False),
            ),
        )
        .order_by("-jobs", "engine")
    )
    return [
        {
            "engine": row["engine"],
            "jobs": row["jobs"],
            "completed": row["completed"],
            "failed": row["failed"],
            "audio_seconds": float(row["audio_seconds"] or 0),
            "processing_seconds": row["processing"].total_seconds() if row["processing"] else 0.0,
        }
        for row in rows
    ]


def completed_audio_by_day(since: Any) -> list[dict[str, Any]]:
    """Seconds of audio transcribed per day (the current time zone) since ``since``.

    Args:
        since: Start of the period (an aware datetime).

    Returns:
        ``[{"day": date, "audio_seconds": float, "jobs": int}]`` for days with
        completed jobs, oldest first.
    """
    from django.db.models import Count, Sum
    from django.db.models.functions import TruncDate

    rows = (
        Transcription.objects.filter(status=TranscriptionStatus.COMPLETED, completed_at__gte=since)
        .annotate(day=TruncDate("completed_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(audio_seconds=Sum("duration"), jobs=Count("pk"))
        .order_by("day")
    )
    return [
        {"day": row["day"], "audio_seconds": float(row["audio_seconds"] or 0), "jobs": row["jobs"]}
        for row in rows
    ]


def open_audio(transcription: Transcription) -> tuple[Any, int, str]:
    """The stored audio of ``transcription``, opened for reading.

    Args:
        transcription: A transcription the caller may see.

    Returns:
        ``(binary file handle, size in bytes, media type)``; the caller closes the handle.

    Raises:
        NotFound: ``audio_missing``: the file is gone from storage.
    """
    try:
        if not transcription.audio.name:  # never stored, or removed by retention
            raise FileNotFoundError(transcription.pk)
        handle = transcription.audio.open("rb")
        size = transcription.audio.size
    except FileNotFoundError:
        raise NotFound(
            "The audio file is missing from storage.", code=TranscriptionErrorCode.AUDIO_MISSING
        ) from None
    return handle, size, audio_media_type(transcription.audio_info.get("container", ""))
