"""Analysis lifecycle: request, run (the task body), export. Every status change is here.

pending ──► processing ──► completed
   ▲            ├────────► failed
   └────────────┘ (retryable error, attempts left: back to pending, re-run later)

An analysis is its own step after the transcript is saved. Nothing here writes to the
transcription: a failing analyzer fails the analysis, never the transcript. Requesting
an analysis again (another analyzer, or after a failure) resets the row to pending.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from transcription_platform import signals
from transcription_platform.accounts.error_codes import AccountErrorCode
from transcription_platform.accounts.services import (
    provider_api_key_for,
    transcription_defaults_for,
)
from transcription_platform.analysis.analyzers import (
    AnalysisError,
    AnalysisResult,
    Analyzer,
    PermanentAnalysisError,
    RetryableAnalysisError,
    Usage,
    analyzer_names,
)
from transcription_platform.analysis.analyzers import (
    get_analyzer as get_analyzer,  # re-exported: billing resolves analyzers through here
)
from transcription_platform.analysis.error_codes import AnalysisErrorCode
from transcription_platform.analysis.models import Analysis, AnalysisStatus
from transcription_platform.conf import settings
from transcription_platform.exceptions import Conflict, TranscriptionPlatformError, ValidationError
from transcription_platform.queueing import Claims
from transcription_platform.retry import backoff_delay
from transcription_platform.transcriptions import services as transcriptions

if TYPE_CHECKING:
    from transcription_platform.transcriptions.models import Transcription

logger = logging.getLogger("transcription_platform.analysis")

IN_PROGRESS = (AnalysisStatus.PENDING, AnalysisStatus.PROCESSING)


class AnalysisInProgress(Conflict):
    code = AnalysisErrorCode.ANALYSIS_IN_PROGRESS
    default_message = "An analysis of this transcript is already pending or running."


# --------------------------------------------------------------------------- decisions


def should_analyze(transcription: Transcription) -> bool:
    """The request's ``analyze`` choice, else the owner's setting, else ANALYSIS_ENABLED."""
    if transcription.analyze is not None:
        return transcription.analyze
    owner_choice = _owner_defaults(transcription.owner).get("analysis_enabled")
    if owner_choice is not None:
        return bool(owner_choice)
    return bool(settings.ANALYSIS_ENABLED)


def validated_analyzer(name: str | None) -> str:
    """``name`` (DEFAULT_ANALYZER when empty) if configured, else a 400 ``unknown_analyzer``."""
    name = (name or "").strip() or settings.DEFAULT_ANALYZER
    if name not in analyzer_names():
        raise ValidationError(
            f"Unknown analyzer {name!r}.",
            code=AnalysisErrorCode.UNKNOWN_ANALYZER,
            details={"field": "analyzer", "allowed": analyzer_names()},
        )
    return name


# --------------------------------------------------------------------------- request


def request_analysis(transcription: Transcription, analyzer: str | None = None) -> Analysis:
    """Create or reset the transcription's analysis to pending and enqueue it, atomically.

    Conflict (409) unless the transcription is completed, or while an analysis is
    pending or running (unless it has shown no sign of life for STUCK_AFTER_SECONDS,
    e.g. its worker died or its enqueue was lost). ``analyzer`` must be configured
    (ValidationError ``unknown_analyzer``); None means DEFAULT_ANALYZER.
    """
    from transcription_platform.analysis import tasks

    name = validated_analyzer(analyzer)
    with transaction.atomic():
        # Locked so the transcription cannot be deleted or reset while we enqueue.
        transcriptions.require_completed(
            transcription.pk, message="Only a completed transcription can be analysed.", lock=True
        )
        now = timezone.now()
        analysis = (
            Analysis.objects.select_for_update().filter(transcription_id=transcription.pk).first()
        )
        if analysis is None:
            analysis = Analysis(transcription_id=transcription.pk, created_at=now)
        elif analysis.status in IN_PROGRESS and not _is_stale(analysis, now):
            raise AnalysisInProgress(details={"status": analysis.status})
        _reset(analysis, analyzer=name, requested_at=now)
        analysis.save()
        tasks.enqueue_analysis(analysis.transcription_id)
    return analysis


def _is_stale(analysis: Analysis, now: datetime) -> bool:
    return analysis.updated_at < now - timedelta(seconds=settings.STUCK_AFTER_SECONDS)


def _reset(analysis: Analysis, *, analyzer: str, requested_at: Any) -> None:
    analysis.analyzer = analyzer
    analysis.status = AnalysisStatus.PENDING
    analysis.model = ""
    analysis.summary = ""
    analysis.topics = []
    analysis.action_items = []
    analysis.input_tokens = analysis.output_tokens = 0
    analysis.error_code = analysis.error_message = ""
    analysis.attempts = 0
    analysis.requested_at = requested_at
    analysis.started_at = analysis.completed_at = None


def on_transcription_completed(sender: Any, transcription: Transcription, **kwargs: Any) -> None:
    """``transcription_completed`` receiver: analyse when the request, owner or site asks."""
    if not should_analyze(transcription) or analysis_for(transcription) is not None:
        return  # not wanted, or the owner already asked for one themselves
    try:
        request_analysis(transcription)
    except AnalysisInProgress:
        pass  # the owner's own request won the race
    except TranscriptionPlatformError as exc:
        # A bad DEFAULT_ANALYZER must not break the pipeline that just saved a transcript.
        logger.error("Analysis of %s not requested: %s", transcription.pk, exc.message)


# --------------------------------------------------------------------------- run (task body)


def run_analysis(transcription_id: Any) -> Analysis | None:
    """Claim the pending analysis of ``transcription_id`` and run it once.

    Completed → store the result and send ``analysis_completed``; a permanent error →
    failed with its code and message (``analysis_failed`` sent); a retryable error with
    attempts left → back to pending and re-enqueued after a backoff that honours the
    provider's ``retry_after``. Returns the analysis, or None when there was nothing to
    do (finished, already running elsewhere, or deleted).
    """
    claim = _claim(transcription_id)
    if claim is None:
        return None
    analysis, claimed_at = claim
    transcription = transcriptions.find_transcription(transcription_id)
    if transcription is None:  # deleted meanwhile (the analysis went with it)
        return None
    owner_key: str | None = None
    try:
        analyzer = get_analyzer(analysis.analyzer)
        owner_key = owner_api_key(transcription, analyzer)
        result = analyzer.analyze(
            transcription,
            language=transcription.language or transcription.detected_language or None,
            api_key=owner_key,
        )
    except RetryableAnalysisError as exc:
        return _retry_or_fail(analysis, claimed_at, exc)
    except AnalysisError as exc:
        if owner_key and exc.code == AnalysisErrorCode.ANALYSIS_AUTH_FAILED:
            exc = PermanentAnalysisError(
                "Your API key was rejected by the analysis provider. Update it in your "
                "settings and run the analysis again.",
                code=AccountErrorCode.USER_API_KEY_REJECTED,
                usage=exc.usage,
            )
        return _fail(analysis, claimed_at, exc.code, exc.message, exc.usage)
    except TranscriptionPlatformError as exc:  # e.g. a misconfigured analyzer
        logger.error("Analysis of %s failed: %s", transcription_id, exc.code)
        return _fail(analysis, claimed_at, exc.code, exc.message, None)
    except Exception:
        # Details go to the logs only; the user sees a stable code.
        logger.exception("Analysis of %s crashed", transcription_id)
        return _fail(
            analysis, claimed_at, "internal_error", "An internal error stopped the analysis.", None
        )
    return _complete(analysis, claimed_at, result)


#: Analyses are claimed pending → processing; ``started_at`` says since when.
ANALYSIS_CLAIMS = Claims(
    free=AnalysisStatus.PENDING, held=AnalysisStatus.PROCESSING, claimed_at="started_at"
)


def _claim(transcription_id: Any) -> tuple[Analysis, Any] | None:
    """pending → processing, so two deliveries (a redelivery and a scheduled retry)
    never both run; a claim older than the queue's task timeout may be taken again."""
    rows = Analysis.objects.filter(
        transcription_id=transcription_id,
        transcription__status=transcriptions.TranscriptionStatus.COMPLETED,
    )
    claimed_at = ANALYSIS_CLAIMS.take(rows, attempts=F("attempts") + 1)
    if claimed_at is None:
        return None
    return Analysis.objects.get(transcription_id=transcription_id), claimed_at


def _mine(analysis: Analysis, claimed_at: Any) -> Any:
    """The row, only while it is still this run's (not reset by a new request meanwhile)."""
    return ANALYSIS_CLAIMS.held_by(Analysis.objects.filter(pk=analysis.pk), claimed_at)


def _complete(analysis: Analysis, claimed_at: Any, result: AnalysisResult) -> Analysis | None:
    data = result.to_dict()
    with transaction.atomic():
        updated = _mine(analysis, claimed_at).update(
            status=AnalysisStatus.COMPLETED,
            model=result.model,
            summary=result.summary,
            topics=data["topics"],
            action_items=data["action_items"],
            input_tokens=analysis.input_tokens + result.usage.input_tokens,
            output_tokens=analysis.output_tokens + result.usage.output_tokens,
            error_code="",
            error_message="",
            completed_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if not updated:
            return None
        analysis.refresh_from_db()
        _send_on_commit(signals.analysis_completed, analysis)
    return analysis


def _fail(
    analysis: Analysis, claimed_at: Any, code: str, message: str, usage: Usage | None
) -> Analysis | None:
    usage = usage or Usage()
    with transaction.atomic():
        updated = _mine(analysis, claimed_at).update(
            status=AnalysisStatus.FAILED,
            error_code=code,
            error_message=message,
            input_tokens=analysis.input_tokens + usage.input_tokens,
            output_tokens=analysis.output_tokens + usage.output_tokens,
            completed_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if not updated:
            return None
        analysis.refresh_from_db()
        logger.warning("Analysis of %s failed: %s", analysis.transcription_id, code)
        _send_on_commit(signals.analysis_failed, analysis, error_code=code, error_message=message)
    return analysis


def _retry_or_fail(
    analysis: Analysis, claimed_at: Any, exc: RetryableAnalysisError
) -> Analysis | None:
    from transcription_platform.analysis import tasks

    if analysis.attempts >= settings.TASK_MAX_ATTEMPTS:
        return _fail(
            analysis,
            claimed_at,
            AnalysisErrorCode.ANALYSIS_UNAVAILABLE,
            f"The analysis service kept failing after {analysis.attempts} attempts: {exc.message}",
            exc.usage,
        )
    usage = exc.usage or Usage()
    delay = backoff_delay(analysis.attempts, exc.retry_after)
    with transaction.atomic():
        # The last error stays visible while the analysis waits for its next attempt.
        updated = _mine(analysis, claimed_at).update(
            status=AnalysisStatus.PENDING,
            error_code=exc.code,
            error_message=exc.message,
            input_tokens=analysis.input_tokens + usage.input_tokens,
            output_tokens=analysis.output_tokens + usage.output_tokens,
            updated_at=timezone.now(),
        )
        if not updated:
            return None
        logger.info(
            "Analysis of %s: retryable %s, retrying in %.1fs",
            analysis.transcription_id,
            exc.code,
            delay,
        )
        tasks.enqueue_analysis(analysis.transcription_id, delay=delay)
    analysis.refresh_from_db()
    return analysis


def _send_on_commit(signal: Any, analysis: Analysis, **kwargs: Any) -> None:
    transaction.on_commit(
        lambda: signal.send(
            sender=type(analysis.transcription),
            transcription=analysis.transcription,
            analysis=analysis,
            **kwargs,
        )
    )


# --------------------------------------------------------------------------- owner's key


_NOT_A_PROVIDER = object()


def owner_api_key(transcription: Transcription, analyzer: Analyzer) -> str | None:
    """The owner's own provider key, when ``analyzer`` talks to the provider it is for.

    A user's key belongs to the engine they chose (or DEFAULT_ENGINE). It is sent to an
    analyzer only when both use the same OpenAI-compatible endpoint (the same
    ``base_url``; None on both is OpenAI itself), so a Mistral key never goes to OpenAI.
    """
    analyzer_url = getattr(analyzer, "base_url", _NOT_A_PROVIDER)
    if analyzer_url is _NOT_A_PROVIDER:
        return None  # not a provider-backed analyzer: no key to send
    from transcription_platform.engines import get_engine

    engine_name = _owner_defaults(transcription.owner).get("engine") or settings.DEFAULT_ENGINE
    try:
        engine = get_engine(engine_name)
    except TranscriptionPlatformError:
        return None
    if getattr(engine, "base_url", _NOT_A_PROVIDER) != analyzer_url:
        return None
    return provider_api_key_for(transcription.owner, engine=engine_name)


def _owner_defaults(owner: Any) -> dict[str, Any]:
    return transcription_defaults_for(owner) or {}


# --------------------------------------------------------------------------- read


def analysis_for(transcription: Transcription) -> Analysis | None:
    return Analysis.objects.filter(transcription_id=transcription.pk).first()


def analysis_export(transcription: Transcription) -> dict[str, Any] | None:
    """The analysis as the JSON export includes it; None when none was ever requested."""
    analysis = analysis_for(transcription)
    if analysis is None:
        return None
    return {
        "status": analysis.status,
        "analyzer": analysis.analyzer,
        "model": analysis.model,
        "summary": analysis.summary,
        "topics": analysis.topics,
        "action_items": analysis.action_items,
        "usage": analysis.usage,
        "error": analysis.error,
        "requested_at": analysis.requested_at,
        "completed_at": analysis.completed_at,
    }


def analysis_payload(analysis: Any) -> dict[str, Any]:
    """``analysis`` as ``GET /transcriptions/{id}/analysis`` returns it (JSON-ready)."""
    from transcription_platform.analysis.api import AnalysisOut
    from transcription_platform.schemas import as_api_json

    return as_api_json(AnalysisOut, analysis)
