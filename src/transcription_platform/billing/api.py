"""``/usage/``: own usage and ledger; every user's totals (billing, auditor, admin);
budgets (read: billing, auditor, admin; write: admin)."""

import csv
import re
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from pydantic import PlainValidator, WithJsonSchema

from transcription_platform.auth import auth_principal, platform_auth
from transcription_platform.billing import services
from transcription_platform.billing.models import Budget, Step, UsageRecord
from transcription_platform.pagination import PageNumberPagination
from transcription_platform.roles import ADMIN, AUDITOR, BILLING, has_role, require_role
from transcription_platform.schemas import IsoDatetime, error_responses

router = Router(tags=["usage"], auth=platform_auth)

#: Most rows one CSV export streams; narrow the date range for more.
CSV_MAX_ROWS = 100_000
READERS = (BILLING, AUDITOR, ADMIN)
Scope = Literal["user", "group"]


class UsageRecordOut(Schema):
    id: int
    created_at: datetime
    owner_id: int | None
    step: str
    object_type: str
    object_id: str
    alias: str
    model: str
    audio_seconds: Decimal
    input_tokens: int | None
    output_tokens: int | None
    unit_prices: dict[str, Any]
    cost: Decimal
    currency: str
    byok: bool


class RecordFilters(Schema):
    since: IsoDatetime | None = Field(None, description="Records at or after this time.")
    until: IsoDatetime | None = Field(None, description="Records before this time.")
    step: Step | None = None
    user: int | None = Field(
        None, ge=1, le=2**63 - 1, description="Another user's records (billing roles only)."
    )


class UserUsageOut(Schema):
    owner_id: int | None
    owner_label: str
    audio_seconds: Decimal | None
    input_tokens: int | None
    output_tokens: int | None
    total_cost: str
    charged_cost: str = Field(..., description="Without BYOK steps.")
    records: int

    # Sums come back with the database's own precision (SQLite: 16 places): one format.
    @staticmethod
    def resolve_total_cost(row: dict[str, Any]) -> str:
        return services.money(row["total_cost"])

    @staticmethod
    def resolve_charged_cost(row: dict[str, Any]) -> str:
        return services.money(row["charged_cost"])


MAX_MONTHLY_COST = Decimal("9999999999.9999")
_MONEY = re.compile(r"\d{1,10}(\.\d+)?")


def _money(value: Any) -> Decimal | None:
    # Exactly what the schema below says: a number or a decimal string, 0 to
    # MAX_MONTHLY_COST, kept to 4 decimal places (rounded, not refused).
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError("Expected a number or a decimal string.")
    if isinstance(value, str) and not _MONEY.fullmatch(value):
        raise ValueError("Expected a decimal such as 12.50.")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("Expected a decimal such as 12.50.") from None
    if not amount.is_finite() or not 0 <= amount <= MAX_MONTHLY_COST:
        raise ValueError(f"Expected a decimal from 0 to {MAX_MONTHLY_COST}.")
    return amount.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


#: A monthly cost limit in the site's currency (4 decimal places kept).
MonthlyCost = Annotated[
    Decimal | None,
    PlainValidator(_money),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": float(MAX_MONTHLY_COST)},
                {"type": "string", "pattern": "^[0-9]{1,10}(\\.[0-9]+)?$"},
                {"type": "null"},
            ]
        },
        mode="validation",
    ),
]


class Limits(Schema):
    monthly_audio_seconds: int | None = Field(None, ge=0, le=2**62)
    monthly_cost: MonthlyCost = None
    concurrent_jobs: int | None = Field(None, ge=0, le=2**31 - 1)


class BudgetOut(Limits):
    scope: Scope
    id: int

    @staticmethod
    def resolve_id(budget: Budget) -> int:
        return budget.scope_id


def _records(request: HttpRequest, filters: RecordFilters) -> Any:
    if filters.user is not None and filters.user != auth_principal(request).pk:
        # Someone else's ledger: only for the reading roles (a 404 for everyone else).
        if not any(has_role(auth_principal(request), role) for role in READERS):
            return UsageRecord.objects.none()
        queryset = services.all_records().filter(owner_id=filters.user)
    else:
        queryset = services.records_for(auth_principal(request))
    if filters.since:
        queryset = queryset.filter(created_at__gte=filters.since)
    if filters.until:
        queryset = queryset.filter(created_at__lt=filters.until)
    if filters.step:
        queryset = queryset.filter(step=filters.step)
    return queryset


@router.get("/", operation_id="usage_summary", summary="Own usage this month, limits and remaining")
def usage_summary(request: HttpRequest) -> dict[str, Any]:
    return services.usage_summary(auth_principal(request))


@router.get(
    "/records/",
    operation_id="usage_records_list",
    response={200: list[UsageRecordOut], **error_responses(404)},
    summary="Own usage ledger (paginated, filterable)",
)
@paginate(PageNumberPagination)
def list_records(request: HttpRequest, filters: Query[RecordFilters]) -> Any:
    return _records(request, filters)


class _Echo:
    def write(self, value: str) -> str:
        return value


@router.get(
    "/records.csv",
    operation_id="usage_records_csv",
    response={200: None},
    summary="Own usage ledger as CSV (same filters)",
    openapi_extra={"responses": {200: {"content": {"text/csv": {}}}}},
)
def export_records(request: HttpRequest, filters: Query[RecordFilters]) -> StreamingHttpResponse:
    rows = _records(request, filters).order_by("created_at", "pk")[:CSV_MAX_ROWS]
    columns = [name for name in UsageRecordOut.model_fields if name != "unit_prices"]
    writer = csv.writer(_Echo())

    def lines() -> Any:
        yield writer.writerow(columns)
        for row in rows.values_list(*columns).iterator():
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="usage.csv"'
    return response


@router.get(
    "/users/",
    operation_id="usage_users_list",
    response={200: list[UserUsageOut], **error_responses(403)},
    summary="Every user's usage totals (billing, auditor or admin role)",
)
@require_role(*READERS)
@paginate(PageNumberPagination)
def usage_by_user(request: HttpRequest, since: IsoDatetime | None = None) -> QuerySet[Any]:
    return services.usage_by_user(since)


@router.get(
    "/budgets/",
    operation_id="usage_budgets_list",
    response={200: list[BudgetOut], **error_responses(403)},
    summary="Budgets of users and groups (billing, auditor or admin role)",
)
@require_role(*READERS)
@paginate(PageNumberPagination)
def list_budgets(request: HttpRequest) -> QuerySet[Budget]:
    return services.budgets()


@router.get(
    "/budgets/{scope}/{scope_id}",
    operation_id="usage_budgets_get",
    response={200: BudgetOut, **error_responses(403, 404)},
    summary="One user's or group's budget (billing, auditor or admin role)",
)
@require_role(*READERS)
def get_budget(request: HttpRequest, scope: Scope, scope_id: int) -> Budget:
    return services.get_budget(scope, _id(scope_id))


@router.put(
    "/budgets/{scope}/{scope_id}",
    operation_id="usage_budgets_set",
    response={200: BudgetOut, **error_responses(403, 404)},
    summary="Set a user's or group's limits (admin role; audited)",
)
@require_role(ADMIN)
def put_budget(request: HttpRequest, scope: Scope, scope_id: int, payload: Limits) -> Budget:
    return services.set_budget(scope, _id(scope_id), payload.model_dump(), request=request)


def _id(scope_id: int) -> int:
    from transcription_platform.exceptions import NotFound

    # Out of the database's integer range: no such row (not a 500 from the driver).
    if not 0 < scope_id < 2**31:
        raise NotFound("Not found.")
    return scope_id
