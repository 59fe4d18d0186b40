"""``/audit/``: the audit log, read-only, for auditors and admins."""

from datetime import datetime
from typing import Annotated, Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, FilterLookup, FilterSchema, Query, Router, Schema
from ninja.pagination import paginate

from transcription_platform.audit.models import AuditAction, AuditLog
from transcription_platform.auth import platform_auth
from transcription_platform.pagination import PageNumberPagination
from transcription_platform.roles import ADMIN, AUDITOR, require_role
from transcription_platform.schemas import IsoDatetime, error_responses

router = Router(tags=["audit"], auth=platform_auth)


class AuditEntryOut(Schema):
    id: int
    created_at: datetime
    actor_id: int | None
    actor: str = Field(..., alias="actor_label")
    action: AuditAction
    object_type: str
    object_id: str
    ip: str | None
    user_agent: str
    meta: dict[str, Any]


class AuditFilter(FilterSchema):
    actor: Annotated[int | None, FilterLookup("actor_id")] = Field(
        None, description="Actor user id."
    )
    action: AuditAction | None = None
    object_type: str | None = Field(None, max_length=100, description="e.g. app_label.model")
    object_id: str | None = Field(None, max_length=64)
    since: Annotated[IsoDatetime | None, FilterLookup("created_at__gte")] = Field(
        None, description="Entries at or after this time."
    )
    until: Annotated[IsoDatetime | None, FilterLookup("created_at__lt")] = Field(
        None, description="Entries before this time."
    )


@router.get(
    "/",
    operation_id="audit_list",
    response={200: list[AuditEntryOut], **error_responses(403)},
    summary="List audit entries (auditor or admin role)",
)
@require_role(AUDITOR, ADMIN)
@paginate(PageNumberPagination)
def list_audit_entries(request: HttpRequest, filters: Query[AuditFilter]) -> QuerySet[AuditLog]:
    return filters.filter(AuditLog.objects.all())
