"""``/auth/api-keys/``: platform API keys for scripts and servers.

The secret is in the creation response only; afterwards a key is known by its name
and visible ``prefix``.
"""

from datetime import datetime

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import paginate

from transcription_platform.accounts import services
from transcription_platform.accounts.models import ApiKey
from transcription_platform.auth import auth_principal, platform_auth
from transcription_platform.pagination import PageNumberPagination
from transcription_platform.schemas import error_responses
from transcription_platform.scopes import DEFAULT_API_KEY_SCOPES, Scope, session_only

router = Router(tags=["api keys"], auth=platform_auth)


class ApiKeyIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    scopes: list[Scope] = Field(
        default_factory=lambda: list(DEFAULT_API_KEY_SCOPES),
        min_length=1,
        description=(
            "What the key may do: `read` (every GET), `transcribe` (create, retry and "
            "cancel transcriptions, request analyses, /v1/audio), `manage` (every other "
            "change). Default: read and transcribe."
        ),
    )


class ApiKeyOut(Schema):
    id: int
    name: str
    prefix: str = Field(..., description="Visible start of the key, to recognise it.")
    created_at: datetime
    last_used_at: datetime | None = Field(None, description="Recorded to the minute.")
    revoked_at: datetime | None
    scopes: list[Scope]


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(..., description="The secret. Shown only in this response: store it now.")


@router.post(
    "/",
    operation_id="api_keys_create",
    response={201: ApiKeyCreatedOut, **error_responses(400, 403)},
    summary="Create an API key (the secret is shown once)",
    description=(
        "Needs a sign-in session (JWT, OIDC or the host's session): an API key cannot "
        "create keys (403 `session_required`)."
    ),
)
@session_only
def create_api_key(request: HttpRequest, payload: ApiKeyIn) -> Status[ApiKeyCreatedOut]:
    key, secret = services.create_api_key(
        auth_principal(request), payload.name, scopes=payload.scopes, request=request
    )
    return Status(201, ApiKeyCreatedOut(**ApiKeyOut.from_orm(key).model_dump(), key=secret))


@router.get(
    "/",
    operation_id="api_keys_list",
    response=list[ApiKeyOut],
    summary="Your API keys (active and revoked)",
)
@paginate(PageNumberPagination)
def list_api_keys(request: HttpRequest) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=auth_principal(request))


@router.delete(
    "/{int:key_id}/",
    operation_id="api_keys_revoke",
    response={204: None, **error_responses(403, 404)},
    summary="Revoke an API key",
    description="Needs a sign-in session: an API key cannot revoke keys (403 `session_required`).",
)
@session_only
def revoke_api_key(request: HttpRequest, key_id: int) -> Status[None]:
    services.revoke_api_key(auth_principal(request), key_id, request=request)
    return Status(204, None)
