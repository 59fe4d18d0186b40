"""``/webhooks/``: a user's webhook endpoints, their delivery log, tests and secrets."""

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from transcription_platform.auth import auth_principal, platform_auth
from transcription_platform.notifications import services
from transcription_platform.notifications.models import WebhookEndpoint, WebhookMessage
from transcription_platform.pagination import PageNumberPagination
from transcription_platform.schemas import error_responses
from transcription_platform.scopes import Scope, requires_scope

router = Router(tags=["webhooks"], auth=platform_auth)

EventType = Literal[
    "transcription.completed",
    "transcription.failed",
    "transcription.cancelled",
    "analysis.completed",
    "analysis.failed",
]


class EndpointIn(Schema):
    url: str = Field(..., max_length=2048, description="http(s) URL that receives events.")
    events: list[EventType] = Field(..., min_length=1, max_length=len(services.EVENT_TYPES))
    description: str = Field("", max_length=255)


class EndpointPatch(Schema):
    url: str | None = Field(None, max_length=2048)
    events: list[EventType] | None = Field(None, min_length=1, max_length=5)
    description: str | None = Field(None, max_length=255)
    enabled: bool | None = None


class EndpointOut(Schema):
    id: UUID
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str = Field(..., description='"", "gone" or "consecutive_failures".')
    consecutive_failures: int
    previous_secret_expires_at: datetime | None = Field(
        None, description="Until then the previous secret signs too (after a rotation)."
    )
    created_at: datetime
    updated_at: datetime


class EndpointCreatedOut(EndpointOut):
    secret: str = Field(..., description="whsec_… — shown only now; store it.")


class SecretOut(Schema):
    secret: str
    previous_secret_expires_at: datetime | None = None


class AttemptOut(Schema):
    number: int
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    response_excerpt: str
    error: str
    succeeded: bool
    next_attempt_at: datetime | None


class MessageOut(Schema):
    id: str = Field(..., description="The webhook-id header of every attempt.")
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]
    log: list[AttemptOut] = Field(..., description="Every attempt, oldest first.")

    @staticmethod
    def resolve_log(message: WebhookMessage) -> list[Any]:
        return list(message.log.all())


@router.post(
    "",
    operation_id="webhooks_create",
    response={201: EndpointCreatedOut, **error_responses(400)},
    summary="Create a webhook endpoint (its secret is shown only in this response)",
)
def create_endpoint(request: HttpRequest, payload: EndpointIn) -> Any:
    endpoint = services.create_endpoint(
        auth_principal(request),
        url=payload.url,
        events=payload.events,
        description=payload.description,
    )
    return Status(201, endpoint)


@router.get(
    "",
    operation_id="webhooks_list",
    response=list[EndpointOut],
    summary="List your webhook endpoints",
)
@paginate(PageNumberPagination)
def list_endpoints(request: HttpRequest) -> Any:
    return services.endpoints_for(auth_principal(request)).order_by("-created_at", "pk")


@router.post(
    "request-secret",
    operation_id="webhooks_request_secret",
    response={200: SecretOut},
    summary="A new secret for per-request webhook_url deliveries",
    description=(
        "Transcriptions created with a `webhook_url` are signed with this per-user "
        "secret. Each call makes a new one; requests made before keep the secret that "
        "was current when they were created."
    ),
)
def new_request_secret(request: HttpRequest) -> Any:
    return {"secret": services.request_webhook_secret(auth_principal(request), rotate=True)}


@router.get(
    "{uuid:endpoint_id}",
    operation_id="webhooks_get",
    response={200: EndpointOut, **error_responses(404)},
    summary="A webhook endpoint",
)
def get_endpoint(request: HttpRequest, endpoint_id: UUID) -> WebhookEndpoint:
    return services.get_endpoint_for(auth_principal(request), endpoint_id)


@router.patch(
    "{uuid:endpoint_id}",
    operation_id="webhooks_update",
    response={200: EndpointOut, **error_responses(400, 404)},
    summary="Change a webhook endpoint (enabling it again resets its failure count)",
)
def update_endpoint(request: HttpRequest, endpoint_id: UUID, payload: EndpointPatch) -> Any:
    endpoint = services.get_endpoint_for(auth_principal(request), endpoint_id)
    return services.update_endpoint(endpoint, **payload.model_dump(exclude_none=True))


@router.delete(
    "{uuid:endpoint_id}",
    operation_id="webhooks_delete",
    response={204: None, **error_responses(404)},
    summary="Delete a webhook endpoint and its delivery log",
)
def delete_endpoint(request: HttpRequest, endpoint_id: UUID) -> Any:
    services.get_endpoint_for(auth_principal(request), endpoint_id).delete()
    return Status(204, None)


@router.post(
    "{uuid:endpoint_id}/rotate-secret",
    operation_id="webhooks_rotate_secret",
    response={200: SecretOut, **error_responses(404)},
    summary="Rotate the secret (the old one keeps signing for 24 hours)",
)
def rotate_secret(request: HttpRequest, endpoint_id: UUID) -> Any:
    endpoint = services.get_endpoint_for(auth_principal(request), endpoint_id)
    secret = services.rotate_secret(endpoint)
    return {"secret": secret, "previous_secret_expires_at": endpoint.previous_secret_expires_at}


@router.post(
    "{uuid:endpoint_id}/test",
    operation_id="webhooks_test",
    response={202: MessageOut, **error_responses(404, 409)},
    summary="Send a webhook.test event to the endpoint",
)
def send_test_event(request: HttpRequest, endpoint_id: UUID) -> Any:
    endpoint = services.get_endpoint_for(auth_principal(request), endpoint_id)
    return Status(202, services.send_test_event(endpoint))


@router.get(
    "{uuid:endpoint_id}/deliveries/",
    operation_id="webhooks_deliveries",
    response={200: list[MessageOut], **error_responses(404)},
    summary="Messages sent to the endpoint, newest first, with every attempt",
)
@paginate(PageNumberPagination)
def list_deliveries(request: HttpRequest, endpoint_id: UUID) -> Any:
    endpoint = services.get_endpoint_for(auth_principal(request), endpoint_id)
    return endpoint.messages.prefetch_related("log").order_by("-created_at", "pk")


@router.post(
    "{uuid:endpoint_id}/deliveries/{message_id}/redeliver",
    operation_id="webhooks_redeliver",
    response={202: MessageOut, **error_responses(404, 409)},
    summary="Attempt a message again now (same webhook-id)",
)
def redeliver(request: HttpRequest, endpoint_id: UUID, message_id: str) -> Any:
    endpoint = services.get_endpoint_for(auth_principal(request), endpoint_id)
    message = services.get_message_for(endpoint, message_id[:40])
    return Status(202, services.redeliver(message))


# --------------------------------------------------------------------------- /events/

events_router = Router(tags=["events"], auth=platform_auth)


class StreamTokenOut(Schema):
    token: str = Field(..., description="Pass as `?token=` to the event streams.")
    expires_in: int = Field(..., description="Seconds during which a stream may connect with it.")


@events_router.post(
    "token",
    operation_id="events_token",
    response={200: StreamTokenOut},
    summary="A short-lived token for the event streams (for browsers' EventSource)",
    description=(
        "`EventSource` cannot send an `Authorization` header: open "
        "`GET /transcriptions/{id}/events?token=…` or `GET /events?token=…` with this "
        "token instead. It is checked when a stream connects, names only you, and "
        "opens nothing else. See docs/notifications.md."
    ),
)
@requires_scope(Scope.READ)  # it opens the event streams only: a read
def stream_token(request: HttpRequest) -> Any:
    return {
        "token": services.issue_stream_token(auth_principal(request)),
        "expires_in": services.stream_token_ttl(),
    }
