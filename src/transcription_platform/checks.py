"""System checks (``transcription_platform.E001``…) for the library's configuration."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """E001: TRANSCRIPTION_PLATFORM is readable (known keys, right types)."""
    from transcription_platform.conf import settings

    settings.reload()
    try:
        settings.values  # noqa: B018  (loading validates)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="transcription_platform.E001")]
    return []
