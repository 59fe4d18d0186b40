"""Error codes of the oidc app (see :mod:`transcription_platform.error_codes`)."""

from __future__ import annotations

from enum import StrEnum


class OidcErrorCode(StrEnum):
    OIDC_TOKEN_INVALID = "oidc_token_invalid"  # noqa: S105
    OIDC_PROVIDER_UNAVAILABLE = "oidc_provider_unavailable"
