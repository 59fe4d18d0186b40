"""``/transcriptions/health/``: readiness of the database, cache, storage and workers."""

from typing import Any, Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status

from transcription_platform.health.services import run_checks
from transcription_platform.ratelimit import rate_limit_exempt

router = Router(tags=["health"])


class HealthOut(Schema):
    status: Literal["healthy", "unhealthy"]
    checks: dict[str, bool]


@router.get(
    "",
    operation_id="health_get",
    response={200: HealthOut, 503: HealthOut},
    auth=None,
    summary="Readiness: every dependency check (200 healthy, 503 otherwise)",
)
@rate_limit_exempt  # probes poll it every few seconds; a 429 would read as "down"
def health(request: HttpRequest) -> Status[dict[str, Any]]:
    checks = run_checks()
    healthy = all(checks.values())
    return Status(
        200 if healthy else 503,
        {
            "status": "healthy" if healthy else "unhealthy",
            "checks": checks,
        },
    )
