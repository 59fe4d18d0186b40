"""Error codes of the accounts app (see `transcription_platform.error_codes`)."""

from __future__ import annotations

from enum import StrEnum


class AccountErrorCode(StrEnum):
    EMAIL_TAKEN = "email_taken"
    USERNAME_TAKEN = "username_taken"
    WEAK_PASSWORD = "weak_password"  # noqa: S105  (an error code, not a password)
    INVALID_CREDENTIALS = "invalid_credentials"
    TOKEN_NOT_VALID = "token_not_valid"  # noqa: S105
    # The user's own provider key (settings) was refused, by an engine or an analyzer.
    USER_API_KEY_REJECTED = "user_api_key_rejected"
