"""System checks of the web app (ids ``transcription_platform_web.W00x``)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from transcription_platform.conf import settings

SESSION_AUTH = "transcription_platform.auth.SessionAuth"


def check_session_auth(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The pages call the API with the session: without SessionAuth every call is a 401."""
    if SESSION_AUTH in settings.AUTHENTICATION:
        return []
    return [
        checks.Warning(
            "The web app is installed but AUTHENTICATION does not list SessionAuth, so its "
            "pages cannot call the API.",
            hint=f"Add {SESSION_AUTH!r} to TRANSCRIPTION_PLATFORM['AUTHENTICATION'].",
            id="transcription_platform_web.W001",
        )
    ]
