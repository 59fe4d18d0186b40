"""Refresh tokens: refreshed only for active users, stored only as a hash.

django-ninja-jwt's blacklist app keeps every issued refresh token in
``OutstandingToken.token`` as plain text; with read access to that table anyone could
act as any user for the token's lifetime. Blacklisting and checks use the ``jti``
only, so the stored text is replaced by its SHA-256 before it is written.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth import get_user_model
from ninja_jwt.exceptions import TokenError
from ninja_jwt.settings import api_settings as jwt_settings
from ninja_jwt.tokens import RefreshToken

from transcription_platform.accounts.error_codes import AccountErrorCode
from transcription_platform.exceptions import AuthenticationFailed

HASH_PREFIX = "sha256:"


def hash_outstanding_token(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``pre_save`` of ``OutstandingToken``: keep a digest of the token, never the token.

    Args:
        sender: The model class.
        instance: The row about to be saved.
        **kwargs: Signal arguments.
    """
    token = instance.token or ""
    if not token.startswith(HASH_PREFIX):
        instance.token = HASH_PREFIX + hashlib.sha256(token.encode()).hexdigest()


def refresh_tokens(raw_refresh: str) -> dict[str, str | None]:
    """A new access token (and a rotated refresh token when configured).

    Args:
        raw_refresh: The refresh token the client sent.

    Returns:
        ``{"access": ..., "refresh": ... or None}``.

    Raises:
        AuthenticationFailed: The token is invalid, expired or revoked, or its user
            was deleted or deactivated since it was issued.
    """
    try:
        token = RefreshToken(raw_refresh)
        user_id = token.get(jwt_settings.USER_ID_CLAIM)
        if (
            not get_user_model()
            .objects.filter(**{jwt_settings.USER_ID_FIELD: user_id, "is_active": True})
            .exists()
        ):
            raise TokenError("The token's user is gone or inactive.")
        access = str(token.access_token)
        new_refresh = None
        if jwt_settings.ROTATE_REFRESH_TOKENS:
            if jwt_settings.BLACKLIST_AFTER_ROTATION:
                token.blacklist()
            token.set_jti()
            token.set_exp()
            token.set_iat()
            new_refresh = str(token)
    except TokenError:
        raise AuthenticationFailed(
            "Token is invalid, expired or revoked.", code=AccountErrorCode.TOKEN_NOT_VALID
        ) from None
    return {"access": access, "refresh": new_refresh}
