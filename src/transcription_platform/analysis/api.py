"""``/transcriptions/{id}/analysis``: read the analysis of a transcript, run or re-run it."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.http import HttpRequest
from ninja import Body, Field, Router, Schema, Status

from transcription_platform.analysis import services
from transcription_platform.analysis.error_codes import AnalysisErrorCode
from transcription_platform.analysis.models import Analysis, AnalysisStatus
from transcription_platform.audit.services import log_action
from transcription_platform.auth import auth_principal, platform_auth
from transcription_platform.exceptions import NotFound
from transcription_platform.schemas import error_responses
from transcription_platform.scopes import Scope, requires_scope
from transcription_platform.transcriptions.services import get_transcription_for

router = Router(tags=["analysis"], auth=platform_auth)


class AnalysisError(Schema):
    """Why an analysis failed, or the last transient error."""

    code: str
    message: str


class TopicOut(Schema):
    label: str
    relevance: float = Field(..., ge=0, le=1)


class ActionItemOut(Schema):
    text: str
    owner: str | None = Field(None, description="The person named as responsible, if any.")
    due: str | None = Field(None, description="The deadline as it was said, if any.")
    start: float | None = Field(
        None, description="Start (seconds) of the segment where it was said."
    )


class UsageOut(Schema):
    input_tokens: int
    output_tokens: int


class AnalysisOut(Schema):
    transcription_id: UUID
    status: Literal["pending", "processing", "completed", "failed"]
    analyzer: str = Field(..., description="Name of the analyzer in ANALYZERS.")
    model: str
    summary: str
    topics: list[TopicOut]
    action_items: list[ActionItemOut]
    usage: UsageOut = Field(..., description="Tokens of this run, failed attempts included.")
    error: AnalysisError | None = Field(
        None, description="Why it failed, or the last transient error while it waits to retry."
    )
    attempts: int
    requested_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class AnalysisRequest(Schema):
    analyzer: str | None = Field(
        None, max_length=64, description="A name in ANALYZERS; default DEFAULT_ANALYZER."
    )


@router.get(
    "{uuid:transcription_id}/analysis",
    operation_id="analysis_get",
    response={200: AnalysisOut, **error_responses(404)},
    summary="The analysis of a transcript: summary, topics, action items",
    description=(
        "404 `analysis_not_found` while no analysis was ever requested for the transcript; "
        "otherwise the analysis in whatever status it is (`pending`, `processing`, "
        "`completed`, `failed`)."
    ),
)
def get_analysis(request: HttpRequest, transcription_id: UUID) -> Analysis:
    transcription = get_transcription_for(auth_principal(request), transcription_id)
    analysis = services.analysis_for(transcription)
    if analysis is None:
        raise NotFound(
            "This transcript has not been analysed. POST to this URL to analyse it.",
            code=AnalysisErrorCode.ANALYSIS_NOT_FOUND,
        )
    if analysis.status == AnalysisStatus.COMPLETED:
        # As for the transcript: reads of the result are audited (an admin reading
        # someone else's included), not the polls before it exists.
        log_action("viewed", request=request, obj=analysis, meta=_owner(transcription))
    return analysis


@router.post(
    "{uuid:transcription_id}/analysis",
    operation_id="analysis_request",
    response={202: AnalysisOut, **error_responses(400, 404, 409)},
    summary="Analyse a transcript, or analyse it again (optionally with another analyzer)",
    description=(
        'Optional JSON body `{"analyzer": "name"}`. Answers 202 with the analysis, now '
        "`pending`; poll GET until `completed` or `failed`. 409 `not_completed` until the "
        "transcript is saved, 409 `analysis_in_progress` while one is pending or running; "
        "400 `unknown_analyzer`."
    ),
)
@requires_scope(Scope.TRANSCRIBE)
def request_analysis(
    request: HttpRequest,
    transcription_id: UUID,
    payload: Body[AnalysisRequest | None] = None,
) -> Status[Analysis]:
    transcription = get_transcription_for(auth_principal(request), transcription_id)
    analyzer = payload.analyzer if payload is not None else None
    rerun = services.analysis_for(transcription) is not None
    analysis = services.request_analysis(transcription, analyzer)
    log_action(
        "retried" if rerun else "created",
        request=request,
        obj=analysis,
        meta={**_owner(transcription), "analyzer": analysis.analyzer},
    )
    return Status(202, analysis)


def _owner(transcription: Any) -> dict[str, Any]:
    # Whose transcript it is: an entry by a support admin shows it was someone else's.
    return {"owner_id": transcription.owner_id}
