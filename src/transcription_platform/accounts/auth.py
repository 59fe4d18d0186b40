"""Authentication for the API: ``Authorization: Bearer <JWT access token>``.

One class so every protected operation says ``auth=platform_auth``; the API-key
backend plugs into the same class.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer
from ninja_extra.exceptions import APIException
from ninja_jwt.authentication import JWTBaseAuthentication
from ninja_jwt.exceptions import TokenError


class PlatformAuth(JWTBaseAuthentication, HttpBearer):
    """Bearer JWT (access token) authentication; returns the user or None (→ 401)."""

    openapi_description = "JWT access token from /auth/login/ or /auth/registration/."

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            return self.jwt_authenticate(request, token)
        except (APIException, TokenError):
            # Expired, malformed, blacklisted or for a deleted/inactive user: all 401.
            return None


platform_auth = PlatformAuth()
