"""The django-q2 pipeline. Tasks take ids, are idempotent and safe to re-deliver.

process_transcription(id)
    pending → processing; plan chunks once (quiet cut points); then either enqueue a
    transcribe_chunk task for every chunk not done yet (engines that gain from
    parallelism, several chunks) or transcribe the first one here, chaining the rest.
transcribe_chunk(id, index)
    one chunk (bounded retries); in a chain it enqueues the next chunk in the same
    transaction that stores its result; whoever stores the last chunk stitches and
    completes the job in that same transaction. Every task lasts one chunk, so the
    queue's ``timeout`` need only cover a chunk.

Each job pays for every transaction it opens (docs/benchmarks.md counts them), so a job
of one chunk costs three: the start (with the chunks planned so far), the plan (saved
with its first chunk already claimed by the task that goes on to transcribe it), and
the store (the result, the stitched transcript, the completion, and the rows the
billing, analytics and notification receivers write, all in one). A lease is renewed
only once a chunk outlasts a renewal interval, and progress is written only by chunks
that last (`ChunkProgress`).
recover_stuck_transcriptions()
    scheduled every minute (and run by a worker process django-q2 starts in place of
    one that died, once a lease has had time to lapse): hands the chunk of a dead
    worker to another, re-plans a job whose planner died, re-enqueues jobs whose
    enqueue was lost; fails those out of attempts (``worker_lost``).

Each chunk is claimed with a conditional UPDATE and its result stored, so a
re-delivered or retried job only redoes missing chunks, and `finalize` saves
the transcript exactly once. A claim is a lease: the worker renews it every few
seconds from a background thread while the engine runs (`LeaseKeeper`), so a
claim that stops being renewed for ``CLAIM_LEASE_SECONDS`` belonged to a dead worker.
The same renewal notices a job cancelled or deleted meanwhile: the engine's progress
callback then raises `StopTranscribing` (a local model stops within a segment), and a
result that arrives anyway (a remote engine) is discarded; no further chunk runs.

Progress (``Transcription.progress``, 0-100) counts audio seconds, not chunks: 5 once
planned, then up to 99 as the engine reports its way through each chunk (a local
model segment by segment, a remote API per request), written at most every
``PROGRESS_WRITE_SECONDS`` unless it moved ``PROGRESS_WRITE_STEP`` points, never in a
chunk's first ``PROGRESS_FIRST_WRITE_SECONDS`` nor for its very end (storing the chunk
writes that, in its own transaction), and never backwards; 100 when the transcript is
saved.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from transcription_platform.accounts.error_codes import AccountErrorCode
from transcription_platform.accounts.services import provider_api_key_for
from transcription_platform.conf import settings
from transcription_platform.engines import (
    EngineError,
    PermanentEngineError,
    RetryableEngineError,
    SpeechEngine,
    StopTranscribing,
    TranscriptResult,
    get_engine,
    stitch,
)
from transcription_platform.engines.audio import AudioClip
from transcription_platform.engines.error_codes import EngineErrorCode
from transcription_platform.exceptions import TranscriptionPlatformError
from transcription_platform.hooks import imported_by_apps
from transcription_platform.queueing import (
    Claims,
    enqueue_task,
    ensure_schedule,
    lease_renewal_seconds,
    queue_workers,
)
from transcription_platform.retry import backoff_delay
from transcription_platform.transcriptions import services, validation
from transcription_platform.transcriptions.error_codes import TranscriptionErrorCode
from transcription_platform.transcriptions.models import (
    ChunkStatus,
    Transcription,
    TranscriptionChunk,
    TranscriptionStatus,
)

logger = logging.getLogger("transcription_platform.transcriptions")

TASKS = "transcription_platform.transcriptions.tasks"
RECOVERY_SCHEDULE_NAME = "transcription_platform.recover_stuck_transcriptions"

#: Share of the progress bar reserved for planning; chunks fill the rest up to 99.
PLANNED_PROGRESS = 5
#: Within a chunk, progress is written when it moved this many points...
PROGRESS_WRITE_STEP = 5
#: ...or when it moved at all and this many seconds passed since the last write, so a
#: job reports every few seconds without writing the row on every segment.
PROGRESS_WRITE_SECONDS = 2.0
#: Nothing is written in a chunk's first this many seconds: a chunk that quick moves the
#: bar with its stored result (same transaction), not with writes of its own.
PROGRESS_FIRST_WRITE_SECONDS = 0.5


@dataclass(frozen=True)
class JobProgress:
    """How far a job is: given to in-process listeners (``manage.py transcribe``)."""

    chunks_done: int
    chunks_total: int
    seconds_done: float
    seconds_total: float

    @property
    def fraction(self) -> float:
        """Share of the audio transcribed, 0.0 to 1.0 (by chunks if durations are 0)."""
        if self.seconds_total > 0:
            return min(self.seconds_done / self.seconds_total, 1.0)
        return self.chunks_done / self.chunks_total if self.chunks_total else 1.0


def job_percent(progress: JobProgress) -> int:
    """The ``Transcription.progress`` value of a job this far.

    Args:
        progress: How far the job is.

    Returns:
        ``PLANNED_PROGRESS`` (chunks planned, nothing transcribed) to 99; 100 is kept
        for the saved transcript.
    """
    return PLANNED_PROGRESS + int((99 - PLANNED_PROGRESS) * progress.fraction)


# --------------------------------------------------------------------------- enqueueing


def _enqueue(
    func: str, *args: Any, name: str, delay: float = 0.0, immediately: bool = False
) -> None:
    enqueue_task(
        f"{TASKS}.{func}",
        *args,
        task_name=name,
        model=Transcription,
        delay=delay,
        immediately=immediately,
    )


def enqueue_transcription(transcription: Transcription) -> None:
    """Enqueue the job so that there is never a row without a job nor a job without a row.

    With the ORM broker on our database the queue row is written in the caller's
    transaction (atomic with the transcription row). Other brokers (Redis…) and sync
    mode enqueue after commit; should that enqueue be lost, the scheduled recovery
    re-enqueues pending jobs.
    """
    pk = str(transcription.pk)
    _enqueue("process_transcription", pk, name=f"transcribe:{pk}")


# --------------------------------------------------------------------------- tasks


def process_transcription(
    transcription_id: str,
    *,
    in_process: bool = False,
    on_chunk_done: Callable[[int, int], None] | None = None,
    on_progress: Callable[[JobProgress], None] | None = None,
) -> None:
    """Run (or resume) the whole job for one transcription.

    Args:
        transcription_id: The transcription's primary key.
        in_process: Transcribe every chunk here, one after another, and never enqueue
            chunk tasks (the ``transcribe`` command).
        on_chunk_done: ``on_chunk_done(done, total)``, called once the chunks are
            planned and after each chunk transcribed here.
        on_progress: ``on_progress(JobProgress)``, called once the chunks are planned,
            as the engine reports progress within a chunk (unthrottled) and after each
            chunk transcribed here.
    """
    # The start and the chunks planned so far (a resumed job's), one transaction.
    with transaction.atomic():
        transcription = services.start_processing(transcription_id)
        if transcription is None:
            return
        existing = list(TranscriptionChunk.objects.filter(transcription=transcription))
    finished = False
    with _failing_on_error(transcription_id):
        engine = get_engine(transcription.engine)
        with services.local_audio_path(transcription) as path:
            chunks, claimed_at = _ensure_chunks_claiming(
                transcription, engine, path, existing, claim_first=not engine.supports_callbacks
            )
            todo = [chunk for chunk in chunks if chunk.status != ChunkStatus.DONE]
            if in_process:
                done = len(chunks) - len(todo)
                if on_chunk_done is not None:
                    on_chunk_done(done, len(chunks))
                if on_progress is not None:
                    on_progress(_job_progress(chunks))
                for chunk in todo:
                    outcome = _transcribe_chunk(
                        transcription,
                        chunk,
                        engine,
                        path,
                        chain=False,
                        wait_here=True,
                        listener=on_progress,
                        claimed_at=claimed_at if chunk is todo[0] else None,
                        chunks=chunks,
                    )
                    if outcome is Stored.DISCARDED:
                        return  # cancelled, or another worker holds the chunk
                    finished = outcome is Stored.FINISHED
                    done += 1
                    if on_chunk_done is not None:
                        on_chunk_done(done, len(chunks))
            elif engine.supports_callbacks:
                # The provider works on its own and calls back per chunk
                # (handle_engine_callback); a chunk already submitted keeps its remote
                # job, so a re-delivered task submits only what is missing.
                for chunk in todo:
                    if not chunk.remote_id:
                        _submit_chunk(transcription, chunk, engine, path)
                return
            elif engine.parallel_chunks and len(todo) > 1:
                # One task per chunk, all at once: the engine gains from parallelism.
                for chunk in todo:
                    _enqueue_chunk(transcription_id, chunk.index, immediately=True)
                return
            # Else a chain: the first chunk runs here (no second trip through the queue)
            # and each chunk enqueues the next, so every task lasts one chunk and the
            # queue's timeout need only cover a chunk, not the whole file. A job of one
            # chunk is planned, claimed, transcribed and completed by this one task.
            elif todo:
                outcome = _transcribe_chunk(
                    transcription,
                    todo[0],
                    engine,
                    path,
                    chain=True,
                    claimed_at=claimed_at,
                    chunks=chunks,
                )
                if outcome is not Stored.FINISHED:
                    return  # not ours, cancelled, or the next chunk was enqueued
                finished = True
        if not finished:  # every chunk was done already (a re-delivery): stitch now
            finalize(transcription_id)


def _enqueue_chunk(
    transcription_id: Any, index: int, *, delay: float = 0.0, immediately: bool = False
) -> None:
    pk = str(transcription_id)
    name = f"transcribe:{pk}:{index}"
    _enqueue("transcribe_chunk", pk, index, name=name, delay=delay, immediately=immediately)


def transcribe_chunk(transcription_id: str, index: int) -> None:
    """One chunk; it enqueues the next one (chain) and whoever finishes last stitches."""
    transcription = Transcription.objects.filter(
        pk=transcription_id, status=TranscriptionStatus.PROCESSING
    ).first()
    if transcription is None:
        return
    chunk = TranscriptionChunk.objects.filter(transcription=transcription, index=index).first()
    if chunk is None or chunk.status == ChunkStatus.DONE:
        return
    with _failing_on_error(transcription_id):
        engine = get_engine(transcription.engine)
        with services.local_audio_path(transcription) as path:
            if engine.supports_callbacks:
                if not chunk.remote_id:  # a submission retried after a transient error
                    _submit_chunk(transcription, chunk, engine, path)
                return
            chain = not engine.parallel_chunks
            # Whoever stores the last chunk stitches and completes, in that transaction.
            _transcribe_chunk(transcription, chunk, engine, path, chain=chain)


def _chunk_result(chunk: TranscriptionChunk) -> TranscriptResult:
    if chunk.result is None:  # a DONE chunk always stored its result
        raise ValueError(f"Chunk {chunk.pk} is done but has no result.")
    return TranscriptResult.from_dict(chunk.result)


def finalize(transcription_id: str, *, locked: Transcription | None = None) -> None:
    """Stitch the chunk results and save the transcript, once all chunks are done.

    Args:
        transcription_id: The job.
        locked: The job's row, when the caller's transaction holds it locked.
    """
    chunks = list(TranscriptionChunk.objects.filter(transcription_id=transcription_id))
    if not chunks or any(chunk.status != ChunkStatus.DONE for chunk in chunks):
        return
    result = stitch([(chunk.start, _chunk_result(chunk)) for chunk in chunks])
    services.complete(transcription_id, result, locked=locked)


def store_remote_result(
    chunk: TranscriptionChunk, remote_id: str, result: TranscriptResult
) -> bool:
    """Store the result a provider called back with, and finish the job if it was the
    last chunk; exactly once: False when the chunk was already stored (a duplicate or
    concurrent callback) or no longer waits on ``remote_id``.
    """
    stored = (
        TranscriptionChunk.objects.filter(pk=chunk.pk, remote_id=remote_id)
        .exclude(status=ChunkStatus.DONE)
        .update(status=ChunkStatus.DONE, result=result.to_dict(), heartbeat_at=None)
    )
    if not stored:
        return False
    chunks = list(TranscriptionChunk.objects.filter(transcription_id=chunk.transcription_id))
    services.set_progress(chunk.transcription_id, job_percent(_job_progress(chunks)))
    finalize(str(chunk.transcription_id))
    return True


def recover_stuck_transcriptions() -> dict[str, int]:
    """Hand work whose worker died to another, promptly; re-enqueue jobs with no sign of
    life for STUCK_AFTER_SECONDS (a lost enqueue); fail those out of attempts.

    Returns:
        How many jobs or chunks were ``requeued`` and how many jobs ``failed``.
    """
    lapsed = _recover_lapsed_leases()
    stuck = _recover_stuck_jobs()
    return {key: lapsed[key] + stuck[key] for key in ("requeued", "failed")}


WORKER_LOST_MESSAGE = (
    "Processing stopped repeatedly (the worker was lost). Retry the transcription."
)


def _recover_lapsed_leases() -> dict[str, int]:
    """Chunks and plannings whose lease was not renewed for CLAIM_LEASE_SECONDS: their
    worker died (SIGKILL, OOM, a lost machine). Released and enqueued again at once,
    rather than when the queue would re-deliver the task (``retry``, or never with
    Redis); a chunk whose worker died TASK_MAX_ATTEMPTS times fails the job."""
    requeued = failed = 0
    # A chunk submitted to an asynchronous engine holds no lease: it waits for the
    # provider's callback, not for a worker (its job's STUCK_AFTER_SECONDS bounds it).
    running = TranscriptionChunk.objects.filter(
        transcription__status=TranscriptionStatus.PROCESSING, remote_id=""
    )
    for chunk in CHUNK_CLAIMS.expired(running).only(
        "pk", "transcription_id", "index", "attempts", "claimed_at"
    ):
        if chunk.attempts >= settings.TASK_MAX_ATTEMPTS:
            if services.fail(
                chunk.transcription_id, TranscriptionErrorCode.WORKER_LOST, WORKER_LOST_MESSAGE
            ):
                failed += 1
            continue
        # Conditional: a worker that renewed meanwhile keeps its chunk; of two sweeps,
        # one releases it and enqueues.
        released = CHUNK_CLAIMS.expired(
            TranscriptionChunk.objects.filter(pk=chunk.pk, claimed_at=chunk.claimed_at)
        ).update(status=ChunkStatus.PENDING, claimed_at=None, heartbeat_at=None)
        if released:
            logger.warning(
                "Chunk %s of %s: its worker stopped renewing the lease; handed on",
                chunk.index,
                chunk.transcription_id,
            )
            _enqueue_chunk(chunk.transcription_id, chunk.index, immediately=True)
            requeued += 1
    cutoff = timezone.now() - timedelta(seconds=settings.CLAIM_LEASE_SECONDS)
    planning = Transcription.objects.filter(
        status=TranscriptionStatus.PROCESSING, heartbeat_at__lt=cutoff, chunks__isnull=True
    )
    for transcription in planning.only("pk", "attempts", "heartbeat_at"):
        if transcription.attempts >= settings.TASK_MAX_ATTEMPTS:
            if services.fail(
                transcription.pk, TranscriptionErrorCode.WORKER_LOST, WORKER_LOST_MESSAGE
            ):
                failed += 1
            continue
        touched = Transcription.objects.filter(
            pk=transcription.pk,
            status=TranscriptionStatus.PROCESSING,
            heartbeat_at=transcription.heartbeat_at,
        ).update(heartbeat_at=timezone.now())
        if touched:
            pk = str(transcription.pk)
            _enqueue("process_transcription", pk, name=f"recover:{pk}", immediately=True)
            requeued += 1
    return {"requeued": requeued, "failed": failed}


def _recover_stuck_jobs() -> dict[str, int]:
    """Jobs with no sign of life for STUCK_AFTER_SECONDS: an enqueue lost between the
    commit and the broker (Redis), a chain whose next task was lost."""
    cutoff = timezone.now() - timedelta(seconds=settings.STUCK_AFTER_SECONDS)
    stale = Transcription.objects.filter(
        status__in=[TranscriptionStatus.PENDING, TranscriptionStatus.PROCESSING],
        updated_at__lt=cutoff,
    )
    requeued = failed = 0
    for transcription in stale.only("pk", "status", "attempts"):
        if (
            transcription.status == TranscriptionStatus.PROCESSING
            and transcription.attempts >= settings.TASK_MAX_ATTEMPTS
        ):
            if services.fail(
                transcription.pk, TranscriptionErrorCode.WORKER_LOST, WORKER_LOST_MESSAGE
            ):
                failed += 1
            continue
        # Touch first so a slow queue does not get the same job enqueued twice.
        touched = Transcription.objects.filter(
            pk=transcription.pk, updated_at__lt=cutoff, status=transcription.status
        ).update(updated_at=timezone.now())
        if touched:
            pk = str(transcription.pk)
            _enqueue("process_transcription", pk, name=f"recover:{pk}", immediately=True)
            requeued += 1
    if requeued or failed:
        logger.warning("Recovered stuck transcriptions: %s requeued, %s failed", requeued, failed)
    return {"requeued": requeued, "failed": failed}


def ensure_recovery_schedule(**kwargs: Any) -> None:
    """post_migrate: keep exactly one recovery schedule (every minute: a sweep that
    finds nothing costs two indexed queries)."""
    ensure_schedule(RECOVERY_SCHEDULE_NAME, f"{TASKS}.recover_stuck_transcriptions", minutes=1)


def sweep_after_spawn(sender: Any = None, **kwargs: Any) -> None:
    """django-q2's ``post_spawn``, in a worker process it just started — often in place
    of one that died mid-chunk. Once that worker's lease has had time to lapse, sweep:
    its chunk is taken up about CLAIM_LEASE_SECONDS after the crash, not at the next
    scheduled sweep (the schedule remains for a machine that died whole)."""
    from django_q.conf import Conf

    if Conf.SYNC:
        return  # sync mode runs each task through django-q2's worker() in-process
    timer = threading.Timer(settings.CLAIM_LEASE_SECONDS + 1.0, _sweep_in_background)
    timer.daemon = True
    timer.start()


def _sweep_in_background() -> None:
    try:
        recover_stuck_transcriptions()
    except Exception:
        logger.exception("The recovery sweep after a worker start failed")
    finally:
        connection.close()  # this thread's own connection


# --------------------------------------------------------------------------- internals


@contextmanager
def _failing_on_error(transcription_id: str) -> Iterator[None]:
    """Turn what escapes a task into a failed job with a reason the user can read."""
    try:
        yield
    except TranscriptionPlatformError as exc:
        logger.warning("Transcription %s failed: %s", transcription_id, exc.code)
        services.fail(transcription_id, exc.code, exc.message)
    except Exception:
        # Details go to the logs only; KeyboardInterrupt/SystemExit propagate (the
        # worker dies and recovery resumes the job).
        logger.exception("Transcription %s crashed", transcription_id)
        services.fail(
            transcription_id, "internal_error", "An internal error stopped the transcription."
        )


def _ensure_chunks(
    transcription: Transcription, engine: SpeechEngine, path: str
) -> list[TranscriptionChunk]:
    """The job's chunks: those planned already, else planned now."""
    return _ensure_chunks_claiming(transcription, engine, path)[0]


def _ensure_chunks_claiming(
    transcription: Transcription,
    engine: SpeechEngine,
    path: str,
    existing: list[TranscriptionChunk] | None = None,
    *,
    claim_first: bool = False,
) -> tuple[list[TranscriptionChunk], datetime | None]:
    """The job's chunks (``existing``, read by the caller, else from the database; or
    planned now); with ``claim_first``, a plan made now is saved with its first chunk
    already claimed by this run when this run transcribes it next (a chain, or a job
    of one chunk): the claim costs no transaction of its own.

    Returns:
        The chunks, and the claim time of the first one when this run holds it.
    """
    if existing is None:
        existing = list(TranscriptionChunk.objects.filter(transcription=transcription))
    if existing:
        # Resumed (a retry, a re-delivery): the budget apps hold the job again.
        _run_planned_hooks(transcription, max(chunk.end for chunk in existing))
        return existing, None
    rows = Transcription.objects.filter(pk=transcription.pk, status=TranscriptionStatus.PROCESSING)
    with LeaseKeeper(lambda: bool(rows.update(heartbeat_at=timezone.now()))):
        return _plan(transcription, engine, path, claim_first=claim_first)


def _plan(
    transcription: Transcription, engine: SpeechEngine, path: str, *, claim_first: bool = False
) -> tuple[list[TranscriptionChunk], datetime | None]:
    # Quiet cut points, at most CHUNK_SECONDS (or the engine's) each. The duration limit
    # is enforced here on what decodes, not on the header the upload probe read: a
    # file that claims 1 s and holds hours fails with audio_too_long (nothing charged:
    # its reservation is released with the failure) once the limit is passed.
    clips = engine.plan(
        path,
        max_seconds=validation.duration_limit(transcription.size_bytes),
        workers=queue_workers(),
    )
    if clips:
        _run_planned_hooks(transcription, float(clips[-1].end or 0.0))
    # The first chunk is saved claimed when this run goes on to transcribe it: in a
    # chain, or when it is the only one (a fan-out hands every chunk to a task).
    claim = claim_first and (len(clips) == 1 or not engine.parallel_chunks)
    # One transaction for the plan, the first claim, the duration and the progress
    # (each job pays for every transaction it opens: docs/benchmarks.md counts them).
    with transaction.atomic():
        now = timezone.now()
        # The decoded length, not the header's: a truncated file reports its real length.
        duration = float(clips[-1].end or 0.0) if clips else None
        if not services.record_plan(transcription.pk, duration):
            claim = False  # cancelled while planning: the claim path will find out
        TranscriptionChunk.objects.bulk_create(
            [
                TranscriptionChunk(
                    transcription=transcription,
                    index=i,
                    start=clip.start,
                    end=clip.end or clip.start,
                    **(_claimed_fields(now) if claim and i == 0 else {}),
                )
                for i, clip in enumerate(clips)
            ],
            ignore_conflicts=True,  # a concurrent delivery planned the same chunks
        )
        if duration is not None:
            transcription.duration = duration
        # "Planned" tells a watcher that a long job moved. A job of one chunk that this
        # run transcribes right now, with an engine that reports its progress, goes on
        # to write progress within the chunk (past PROGRESS_FIRST_WRITE_SECONDS) and
        # then completes: its planned step would be one more write and one more event
        # for nothing.
        if len(clips) > 1 or not claim or not engine.accepts_progress():
            services.set_progress(transcription.pk, PLANNED_PROGRESS, transcription=transcription)
        chunks = list(TranscriptionChunk.objects.filter(transcription=transcription))
        if claim:
            _provider_key(transcription)  # read here, with the rest, for the chunk next
    first = chunks[0] if chunks else None
    if first is not None and len(clips) == 1 and clips[0].decoded is not None:
        # The samples the plan decoded, for the engine that runs this chunk here next.
        setattr(first, _DECODED_ATTRIBUTE, clips[0].decoded)
    # Ours only if our row was the one saved (a concurrent delivery's plan wins the
    # conflict, with its own claim or none).
    held = claim and first is not None and first.status == ChunkStatus.RUNNING
    return chunks, now if held and first is not None and first.claimed_at == now else None


def _claimed_fields(now: datetime) -> dict[str, Any]:
    """A chunk row saved already claimed at ``now`` (what `CHUNK_CLAIMS.take` sets)."""
    return {
        "status": ChunkStatus.RUNNING,
        "claimed_at": now,
        "heartbeat_at": now,
        "attempts": 1,
    }


def _run_planned_hooks(transcription: Transcription, duration: float) -> None:
    """Budgets were checked on the header's claim at create time (and released when the
    job failed): the apps that hold them (billing) check the decoded length now, before
    any chunk runs, and may refuse the job."""
    for hook in imported_by_apps("transcription_planned_hooks"):
        hook(
            owner=transcription.owner,
            transcription_id=transcription.pk,
            engine=transcription.engine,
            duration=duration,
        )


#: Chunks are claimed pending → running; ``claimed_at`` says since when, and the lease
#: ``heartbeat_at`` is renewed while the engine runs.
CHUNK_CLAIMS = Claims(
    free=ChunkStatus.PENDING,
    held=ChunkStatus.RUNNING,
    claimed_at="claimed_at",
    heartbeat="heartbeat_at",
)


class LeaseKeeper:
    """Renews a lease from a background thread while the work in the ``with`` block
    runs; `stopped` is set once the lease no longer holds (the job was cancelled or
    deleted, or the work was handed to another worker).

    Args:
        renew: One renewal: True while the lease holds. Runs on the keeper's thread,
            with its own database connection (closed when the block ends).
    """

    def __init__(self, renew: Callable[[], bool]) -> None:
        self.renew = renew
        self.stopped = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tp-lease", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        # Inside a transaction of the caller's (a test case, a site wrapping the call),
        # another connection cannot see the rows: there is no lease to keep from there.
        if not transaction.get_connection().in_atomic_block:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            while not self._done.wait(lease_renewal_seconds()):
                try:
                    held = self.renew()
                except DatabaseError:
                    # A database hiccup is not a lost lease: try again next time.
                    logger.warning("Could not renew a lease", exc_info=True)
                    continue
                if not held:
                    self.stopped.set()
                    return
        finally:
            connection.close()


def _chunk_lease(chunk: TranscriptionChunk, claimed_at: datetime) -> LeaseKeeper:
    """The lease of this run's claim on ``chunk``, held while its job is processing."""
    rows = TranscriptionChunk.objects.filter(
        pk=chunk.pk, transcription__status=TranscriptionStatus.PROCESSING
    )
    return LeaseKeeper(lambda: CHUNK_CLAIMS.renew(rows, claimed_at))


def _claim(chunk: TranscriptionChunk) -> datetime | None:
    """Take the chunk unless another live worker holds it; counts the attempt."""
    rows = TranscriptionChunk.objects.filter(pk=chunk.pk)
    return CHUNK_CLAIMS.take(rows, attempts=F("attempts") + 1)


def _held(chunk: TranscriptionChunk, claimed_at: datetime) -> Any:
    """The chunk's row while this run's claim on it still holds."""
    return CHUNK_CLAIMS.held_by(TranscriptionChunk.objects.filter(pk=chunk.pk), claimed_at)


_PROVIDER_KEY_ATTRIBUTE = "_tp_provider_key"
#: A chunk instance planned by this run may carry the samples the plan decoded.
_DECODED_ATTRIBUTE = "_tp_decoded"


def _provider_key(transcription: Transcription) -> str | None:
    """The owner's own provider key (bring your own key), when the accounts app has one;
    read once per task (kept on the instance), inside the planning transaction when
    the task plans (`_plan` reads it there: no transaction of its own)."""
    if hasattr(transcription, _PROVIDER_KEY_ATTRIBUTE):
        key: str | None = getattr(transcription, _PROVIDER_KEY_ATTRIBUTE)
        return key
    # Only for the engine the key belongs to: a Mistral key is never sent to OpenAI.
    key = provider_api_key_for(transcription.owner, engine=transcription.engine)
    setattr(transcription, _PROVIDER_KEY_ATTRIBUTE, key)
    return key


class Stored(enum.Enum):
    """What became of a chunk's result."""

    #: Not stored: not ours to do, the job was cancelled or deleted meanwhile, or a
    #: retryable engine error released the chunk for a later retry.
    DISCARDED = "discarded"
    #: Stored; other chunks remain.
    KEPT = "kept"
    #: Stored, and it was the last: the transcript was stitched and the job completed
    #: in the same transaction.
    FINISHED = "finished"


def _transcribe_chunk(
    transcription: Transcription,
    chunk: TranscriptionChunk,
    engine: SpeechEngine,
    path: str,
    *,
    chain: bool,
    wait_here: bool = False,
    listener: Callable[[JobProgress], None] | None = None,
    claimed_at: datetime | None = None,
    chunks: list[TranscriptionChunk] | None = None,
) -> Stored:
    """Transcribe one chunk, once, and store its result.

    DISCARDED if it was not ours to do, the job was cancelled meanwhile, or a retryable
    engine error released the chunk and scheduled its retry (no worker sleeps through
    a backoff). ``wait_here`` is for the ``transcribe`` command, which runs the job in
    its own process, not a queue worker: it waits the backoff out and tries again.
    With ``chain``, the next pending chunk is enqueued in the transaction that stores
    this one's result; the last chunk's store completes the job. ``listener`` hears the
    job's progress as the engine reports it. ``claimed_at``: this run already holds
    the chunk (claimed with the plan). ``chunks``: the job's chunks as just read (spares
    reading them again for the progress bar).
    """
    while True:
        if claimed_at is None:
            with transaction.atomic():  # the claim and the check, one short transaction
                claimed_at = _claim(chunk)
                if claimed_at is None or not _is_processing(transcription.pk):
                    return Stored.DISCARDED
            chunks = None  # read before this claim: the others may have moved since
        retry: RetryableEngineError | None = None
        with _chunk_lease(chunk, claimed_at) as lease:
            reporter = ChunkProgress(
                transcription.pk, chunk, listener=listener, stop=lease.stopped, chunks=chunks
            )
            try:
                result = _run_engine(transcription, chunk, engine, path, reporter)
            except StopTranscribing:
                logger.info(
                    "Chunk %s of %s stopped: the job was cancelled or deleted, or the "
                    "chunk was handed on",
                    chunk.index,
                    transcription.pk,
                )
                return Stored.DISCARDED
            except RetryableEngineError as exc:
                retry = exc
        if retry is not None:
            delay = _release_for_retry(chunk, claimed_at, retry, reschedule=not wait_here)
            if not wait_here:
                return Stored.DISCARDED
            time.sleep(delay)
            claimed_at = None
            continue
        # Cancelled or deleted meanwhile (or handed on): DISCARDED, nothing stored.
        return _store_result(
            chunk, claimed_at, result, chain=chain, listener=listener, job=transcription
        )


def _submit_chunk(
    transcription: Transcription, chunk: TranscriptionChunk, engine: SpeechEngine, path: str
) -> None:
    """Hand one chunk to an asynchronous engine; its claim stays held (running) with the
    provider's job id until the callback stores the result."""
    claimed_at = _claim(chunk)
    if claimed_at is None or not _is_processing(transcription.pk):
        return
    try:
        remote_id = engine.submit(
            AudioClip(path, chunk.start, chunk.end),
            language=transcription.language or None,
            prompt=transcription.prompt or None,
            api_key=_provider_key(transcription),
        )
    except RetryableEngineError as exc:
        _release_for_retry(chunk, claimed_at, exc, reschedule=True)
        return
    _held(chunk, claimed_at).update(remote_id=remote_id)
    logger.info("Chunk %s of %s submitted as %s", chunk.index, transcription.pk, remote_id)


def _is_processing(pk: Any) -> bool:
    return Transcription.objects.filter(pk=pk, status=TranscriptionStatus.PROCESSING).exists()


def _run_engine(
    transcription: Transcription,
    chunk: TranscriptionChunk,
    engine: SpeechEngine,
    path: str,
    reporter: ChunkProgress,
) -> TranscriptResult:
    """One engine call for the chunk; a rejected user key gets a message of its own."""
    user_key = _provider_key(transcription)
    extra: dict[str, Any] = {"progress": reporter} if engine.accepts_progress() else {}
    try:
        return engine.transcribe(
            AudioClip(
                path, chunk.start, chunk.end, decoded=getattr(chunk, _DECODED_ATTRIBUTE, None)
            ),
            language=transcription.language or None,
            prompt=transcription.prompt or None,
            api_key=user_key,
            **extra,
        )
    except EngineError as exc:
        if user_key and exc.code == EngineErrorCode.ENGINE_AUTH_FAILED:
            raise PermanentEngineError(
                "Your API key was rejected by the speech provider. Update it in your "
                "settings and retry.",
                code=AccountErrorCode.USER_API_KEY_REJECTED,
            ) from exc
        raise


def _release_for_retry(
    chunk: TranscriptionChunk,
    claimed_at: datetime,
    exc: RetryableEngineError,
    *,
    reschedule: bool,
) -> float:
    """Hand the chunk back (pending) and, with ``reschedule``, enqueue its retry for
    when the backoff ends, in one transaction; returns the backoff in seconds.

    Raises:
        PermanentEngineError: The chunk used up ``TASK_MAX_ATTEMPTS``.
    """
    attempts = TranscriptionChunk.objects.values_list("attempts", flat=True).get(pk=chunk.pk)
    if attempts >= settings.TASK_MAX_ATTEMPTS:
        raise PermanentEngineError(
            f"The speech engine kept failing after {attempts} attempts: {exc.message}",
            code=EngineErrorCode.ENGINE_UNAVAILABLE,
        ) from exc
    delay = backoff_delay(attempts, exc.retry_after)
    logger.info(
        "Chunk %s of %s: retryable %s, retrying in %.1fs",
        chunk.index,
        chunk.transcription_id,
        exc.code,
        delay,
    )
    with transaction.atomic():
        released = _held(chunk, claimed_at).update(status=ChunkStatus.PENDING, claimed_at=None)
        if released and reschedule:
            _enqueue_chunk(chunk.transcription_id, chunk.index, delay=delay)
    return delay


def _store_result(
    chunk: TranscriptionChunk,
    claimed_at: datetime,
    result: TranscriptResult,
    *,
    chain: bool,
    listener: Callable[[JobProgress], None] | None = None,
    job: Transcription | None = None,
) -> Stored:
    """Save the chunk's result in one transaction with what follows from it: with
    ``chain`` the next pending chunk is enqueued; the job's progress counts the chunk in
    full; and when it was the last chunk, the transcript is stitched and the job
    completed (`services.complete`) right there.

    The job's row is locked first, so of two chunks stored at once, the second waits for
    the first to commit and then sees it done: exactly one of them completes the job.

    ``job``: this run's instance of the job; the owner it loaded is reused (the
    completion's receivers read it) instead of being read again.

    Returns:
        DISCARDED, storing nothing, when the claim no longer holds or the job is no
        longer processing (cancelled, deleted): the result of unwanted work is dropped.
    """
    pk = chunk.transcription_id
    known = job
    with transaction.atomic():
        job = (
            Transcription.objects.select_for_update()
            .filter(pk=pk, status=TranscriptionStatus.PROCESSING)
            .first()
        )
        if job is None:
            return Stored.DISCARDED
        if known is not None and Transcription.owner.is_cached(known):
            job.owner = known.owner
        saved = result.to_dict()
        stored = _held(chunk, claimed_at).update(
            status=ChunkStatus.DONE, result=saved, heartbeat_at=None
        )
        if not stored:
            return Stored.DISCARDED
        chunks = list(TranscriptionChunk.objects.filter(transcription_id=pk).defer("result"))
        progress = _job_progress(chunks)
        pending = [c for c in chunks if c.status != ChunkStatus.DONE]
        if pending:
            following = [c for c in pending if c.index > chunk.index]
            if chain and following:
                _enqueue_chunk(pk, following[0].index)
            services.set_progress(pk, job_percent(progress), transcription=job)
        elif len(chunks) == 1:
            # The job's only chunk: its result is the transcript, read from what was
            # just saved (as finalize would read it) without reading it back.
            stitched = stitch([(chunk.start, TranscriptResult.from_dict(saved))])
            services.complete(str(pk), stitched, locked=job)
        else:
            finalize(str(pk), locked=job)  # the last chunk: the job completes with it
    if listener is not None:
        listener(progress)
    return Stored.KEPT if pending else Stored.FINISHED


def _job_progress(chunks: list[TranscriptionChunk]) -> JobProgress:
    """The job's progress from its chunks: those done count in full."""
    done = [c for c in chunks if c.status == ChunkStatus.DONE]
    return JobProgress(
        chunks_done=len(done),
        chunks_total=len(chunks),
        seconds_done=sum(c.end - c.start for c in done),
        seconds_total=sum(c.end - c.start for c in chunks),
    )


class ChunkProgress:
    """The engine's progress callback for one chunk: turns "this much of the clip" into
    the job's ``progress``, throttled, never backwards, never failing the chunk.

    Args:
        transcription_pk: The job whose ``progress`` to write.
        chunk: The chunk being transcribed (its start and end weigh its share).
        listener: Hears every report, unthrottled (the ``transcribe`` command's bar).
        stop: Once set, the next report raises `StopTranscribing` (the engine stops).
    """

    def __init__(
        self,
        transcription_pk: Any,
        chunk: TranscriptionChunk,
        *,
        listener: Callable[[JobProgress], None] | None = None,
        stop: threading.Event | None = None,
        chunks: list[TranscriptionChunk] | None = None,
    ) -> None:
        self.pk = transcription_pk
        self.stop = stop
        # The other chunks as they are now (``chunks`` when the caller just read them):
        # in a chain none moves meanwhile; with a parallel fan-out each chunk reports
        # its own share and set_progress keeps the largest, so the bar still only moves
        # forward.
        if chunks is None:
            chunks = list(TranscriptionChunk.objects.filter(transcription_id=transcription_pk))
        self.others = [c for c in chunks if c.pk != chunk.pk]
        self.chunk = chunk
        self.listener = listener
        self.fraction = 0.0
        self.written = job_percent(self.progress_at(0.0))
        self.written_at = self.started_at = time.monotonic()

    def progress_at(self, fraction: float) -> JobProgress:
        """The job's progress with ``fraction`` of this chunk transcribed."""
        done = [c for c in self.others if c.status == ChunkStatus.DONE]
        length = self.chunk.end - self.chunk.start
        return JobProgress(
            chunks_done=len(done),
            chunks_total=len(self.others) + 1,
            seconds_done=sum(c.end - c.start for c in done) + length * fraction,
            seconds_total=sum(c.end - c.start for c in self.others) + length,
        )

    def __call__(self, fraction: float) -> None:
        if self.stop is not None and self.stop.is_set():
            raise StopTranscribing("The result of this chunk is no longer wanted.")
        fraction = min(max(float(fraction), 0.0), 1.0)
        if fraction <= self.fraction:
            return
        self.fraction = fraction
        progress = self.progress_at(fraction)
        percent = job_percent(progress)
        now = time.monotonic()
        step = percent - self.written
        # The whole chunk: storing its result writes this progress (or completes the
        # job) in the same transaction, a moment later.
        due = step >= PROGRESS_WRITE_STEP or (
            step > 0 and now - self.written_at >= PROGRESS_WRITE_SECONDS
        )
        early = now - self.started_at < PROGRESS_FIRST_WRITE_SECONDS
        if due and not early and fraction < 1.0:
            try:
                services.set_progress(self.pk, percent)
            except DatabaseError:
                # Progress is a courtesy: a failed write must not fail the transcription.
                logger.warning("Could not record the progress of %s", self.pk, exc_info=True)
            else:
                self.written, self.written_at = percent, now
        if self.listener is not None:
            self.listener(progress)
