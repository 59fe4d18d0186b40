"""What installed apps plug into each other, declared on their ``AppConfig``.

An app that extends another (analysis adds a section to the transcript's JSON export,
an inline to the transcription admin, a step to the ``transcribe`` command) names the
parts by dotted path in a class attribute of its ``AppConfig``, the way
``api_routers`` already works. The extended app reads them here: it never imports the
optional app, and an app left out of ``INSTALLED_APPS`` simply declares nothing.

The attributes in use (``api_routers``, ``transcription_admin_inlines``,
``transcription_export_sections``, ``local_transcription_steps``, and the create,
planned, detail and webhook-URL hooks) are listed in
docs/architecture.md.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.utils.module_loading import import_string


def declared_by_apps(attribute: str) -> list[Any]:
    """The entries every installed app declares under ``attribute``, in app order.

    Args:
        attribute: Name of the ``AppConfig`` class attribute (a list of entries).

    Returns:
        The entries as declared (dotted paths, or tuples holding them).
    """
    entries: list[Any] = []
    for config in apps.get_app_configs():
        entries.extend(getattr(config, attribute, ()))
    return entries


def imported_by_apps(attribute: str) -> list[Any]:
    """The objects named by dotted path under ``attribute`` by every installed app.

    Args:
        attribute: Name of the ``AppConfig`` class attribute (a list of dotted paths).

    Returns:
        The imported objects, in app order.

    Raises:
        ImportError: An app declares a path that cannot be imported.
    """
    return [import_string(path) for path in declared_by_apps(attribute)]
