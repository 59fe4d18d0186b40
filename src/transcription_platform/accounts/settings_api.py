"""``/settings/``: the caller's transcription defaults and their own provider key.

``api_key`` is write-only: accepted on PUT/PATCH, answered only as ``has_api_key`` and
``api_key_last4``.
"""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from pydantic import SecretStr, StrictBool

from transcription_platform.accounts import services
from transcription_platform.accounts.models import TranscriptionSettings
from transcription_platform.auth import auth_principal, platform_auth
from transcription_platform.crypto import RevealedSecret
from transcription_platform.schemas import error_responses
from transcription_platform.scopes import require_session
from transcription_platform.validators import LANGUAGE_PATTERN, MAX_PROMPT_LENGTH

router = Router(tags=["settings"], auth=platform_auth)

API_KEY_DESCRIPTION = (
    "Your own provider key (e.g. OpenAI or Mistral), used for your jobs instead of the "
    'site\'s. Write-only: never returned. "" or null removes it; omit it to keep it. '
    "Needs a sign-in session: an API key cannot set it (403 `session_required`)."
)

# Checked by transcription_platform.validators, as for uploads (400, not a schema 422).
LANGUAGE_DESCRIPTION = 'ISO 639 code such as en or pt-BR (pt_br is stored as pt-BR); "" = detect.'
PROMPT_DESCRIPTION = (
    f"Vocabulary or context for the engine, {MAX_PROMPT_LENGTH} characters at most."
)


class SettingsOut(Schema):
    engine: str = Field(..., description='Preferred engine name; "" = site default.')
    model: str
    language: str
    prompt: str
    analysis_enabled: bool | None = Field(..., description="null = site default.")
    has_api_key: bool
    api_key_last4: str | None = Field(None, description="Last 4 characters of a long key.")
    updated_at: datetime | None


class SettingsPut(Schema):
    """The whole settings document; omitted fields return to their defaults,
    except ``api_key``, which is kept unless given."""

    engine: str = Field("", max_length=50)
    model: str = Field("", max_length=100)
    language: str = Field(
        "", description=LANGUAGE_DESCRIPTION, json_schema_extra={"pattern": LANGUAGE_PATTERN}
    )
    prompt: str = Field("", description=PROMPT_DESCRIPTION)
    analysis_enabled: StrictBool | None = None
    api_key: SecretStr | None = Field(None, max_length=512, description=API_KEY_DESCRIPTION)


class SettingsPatch(Schema):
    engine: str | None = Field(None, max_length=50)
    model: str | None = Field(None, max_length=100)
    language: str | None = Field(
        None, description=LANGUAGE_DESCRIPTION, json_schema_extra={"pattern": LANGUAGE_PATTERN}
    )
    prompt: str | None = Field(None, description=PROMPT_DESCRIPTION)
    analysis_enabled: StrictBool | None = None
    api_key: SecretStr | None = Field(None, max_length=512, description=API_KEY_DESCRIPTION)


def _changes(
    request: HttpRequest, payload: SettingsPut | SettingsPatch, *, replace: bool
) -> dict[str, Any]:
    # PUT replaces every field but api_key; PATCH touches only what was sent.
    changes = payload.model_dump(exclude_unset=not replace, exclude={"api_key"})
    if not replace:
        # null means "site default" only for analysis_enabled; elsewhere it is "".
        changes = {
            k: ("" if v is None and k != "analysis_enabled" else v) for k, v in changes.items()
        }
    if "api_key" in payload.model_fields_set:
        # The provider key is the account's money: a person's session only.
        require_session(request)
        secret = payload.api_key
        changes["api_key"] = RevealedSecret(secret.get_secret_value() if secret else "")
    return changes


@router.get(
    "/", operation_id="settings_get", response=SettingsOut, summary="Your transcription settings"
)
def get_settings(request: HttpRequest) -> TranscriptionSettings:
    return services.get_transcription_settings(auth_principal(request))


@router.put(
    "/",
    operation_id="settings_replace",
    response={200: SettingsOut, **error_responses(400, 403)},
    summary="Replace your transcription settings",
)
def put_settings(request: HttpRequest, payload: SettingsPut) -> TranscriptionSettings:
    return services.update_transcription_settings(
        auth_principal(request), _changes(request, payload, replace=True), request=request
    )


@router.patch(
    "/",
    operation_id="settings_update",
    response={200: SettingsOut, **error_responses(400, 403)},
    summary="Change some of your transcription settings",
)
def patch_settings(request: HttpRequest, payload: SettingsPatch) -> TranscriptionSettings:
    return services.update_transcription_settings(
        auth_principal(request), _changes(request, payload, replace=False), request=request
    )
