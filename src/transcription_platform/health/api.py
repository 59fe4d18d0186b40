"""``/transcriptions/health/``: readiness of the database, cache, storage and workers."""

from typing import Literal

from django.http import HttpRequest
from ninja import Router, Schema, Status

from transcription_platform.health.services import run_checks

router = Router(tags=["health"])


class HealthOut(Schema):
    status: Literal["healthy", "unhealthy"]
    checks: dict[str, bool]


@router.get(
    "",
    response={200: HealthOut, 503: HealthOut},
    auth=None,
    summary="Readiness: every dependency check (200 healthy, 503 otherwise)",
)
def health(request: HttpRequest):
    checks = run_checks()
    healthy = all(checks.values())
    return Status(
        200 if healthy else 503,
        {
            "status": "healthy" if healthy else "unhealthy",
            "checks": checks,
        },
    )
