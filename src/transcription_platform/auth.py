"""Authentication for the API: a JWT access token or a platform API key.

One class so every protected operation says ``auth=platform_auth`` and accepts both:

* ``Authorization: Bearer <JWT access token>`` (from /auth/login/),
* ``Authorization: Bearer <API key>`` (keys start with ``API_KEY_PREFIX``, ``tp_``),
* ``X-API-Key: <API key>``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja_extra.exceptions import APIException
from ninja_jwt.authentication import JWTBaseAuthentication
from ninja_jwt.exceptions import TokenError

from transcription_platform.accounts.services import authenticate_api_key
from transcription_platform.conf import settings

API_KEY_HEADER = "X-API-Key"


class PlatformAuth(JWTBaseAuthentication, HttpBearer):
    """Bearer JWT or platform API key; returns the user or None (→ 401)."""

    openapi_description = (
        "JWT access token from /auth/login/ or /auth/registration/, or a platform API key "
        "from /auth/api-keys/ (also accepted in the X-API-Key header)."
    )

    def __call__(self, request: HttpRequest) -> Any:
        api_key = request.headers.get(API_KEY_HEADER)
        if api_key:
            return self._api_key_user(request, api_key)
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        if token.startswith(settings.API_KEY_PREFIX):
            return self._api_key_user(request, token)
        try:
            return self.jwt_authenticate(request, token)
        except (APIException, TokenError):
            # Expired, malformed, blacklisted or for a deleted/inactive user: all 401.
            return None

    @staticmethod
    def _api_key_user(request: HttpRequest, api_key: str) -> Any:
        user = authenticate_api_key(api_key, request=request)
        if user is not None:
            # What JWTBaseAuthentication does too: code reading request.user sees the caller.
            request.user = user
        return user


platform_auth = PlatformAuth()
