"""System checks of the oidc app (``transcription_platform_oidc.E001``…)."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

AUTH_CLASS = "transcription_platform.oidc.auth.OidcAuth"


@register(Tags.security, "transcription_platform")
def check_oidc_issuers(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E001: every ``OIDC_ISSUERS`` entry is valid; W001: issuers without the auth class.

    Args:
        app_configs: Unused (Django's check signature).
        **kwargs: Unused.

    Returns:
        The problems found.
    """
    from transcription_platform.conf import settings
    from transcription_platform.oidc.services import parse_issuer

    try:
        issuers = settings.OIDC_ISSUERS
        authentication = settings.AUTHENTICATION
    except ImproperlyConfigured:
        return []  # transcription_platform.E001 reports unreadable settings
    messages: list[CheckMessage] = []
    for index, entry in enumerate(issuers):
        try:
            parse_issuer(entry)
        except ImproperlyConfigured as exc:
            messages.append(
                Error(f"OIDC_ISSUERS[{index}]: {exc}", id="transcription_platform_oidc.E001")
            )
    if issuers and AUTH_CLASS not in authentication:
        messages.append(
            Warning(
                "OIDC_ISSUERS is set but AUTHENTICATION does not list the OIDC auth class, "
                "so no OpenID Connect token is accepted.",
                hint=f'Add "{AUTH_CLASS}" before the other auth classes.',
                id="transcription_platform_oidc.W001",
            )
        )
    return messages
