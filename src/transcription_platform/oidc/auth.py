"""The auth class for ``AUTHENTICATION``: bearer access tokens from ``OIDC_ISSUERS``.

List it before the default so an OIDC token is recognised first; everything else (our
own JWTs, API keys) falls through to the next class untouched::

    "AUTHENTICATION": [
        "transcription_platform.oidc.auth.OidcAuth",
        "transcription_platform.auth.PlatformAuth",
    ]
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from ninja.security import HttpBearer

from transcription_platform.conf import settings


class OidcAuth(HttpBearer):
    """``Authorization: Bearer <access token>`` from a configured OpenID Connect issuer."""

    openapi_description = "Access token from one of the site's OpenID Connect issuers."

    def __init__(self) -> None:
        # Fail when AUTHENTICATION is loaded, not with a 500 on the first request.
        if not apps.is_installed("transcription_platform.oidc"):
            raise ImproperlyConfigured(
                "OidcAuth needs 'transcription_platform.oidc' in INSTALLED_APPS."
            )
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        """The user of an OIDC token, or ``None`` for any other token.

        Args:
            request: The request.
            token: The bearer token.

        Returns:
            The user, or ``None`` so the next auth class gets its turn.

        Raises:
            AuthenticationFailed: An invalid token from a configured issuer (401).
            ServiceUnavailable: Its issuer's keys cannot be obtained (503).
        """
        if not settings.OIDC_ISSUERS or token.startswith(settings.API_KEY_PREFIX):
            return None
        # Imported here: the models load only once the app is known to be installed.
        from transcription_platform.oidc.services import authenticate_token

        user = authenticate_token(token, request=request)
        if user is not None:
            # As PlatformAuth does: code reading request.user sees the caller.
            request.user = user
        return user
