"""The library's NinjaAPI, assembled from the routers of the installed apps.

Each app's ``AppConfig.api_routers`` lists ``(prefix, "dotted.path.router")`` pairs;
an app left out of ``INSTALLED_APPS`` contributes nothing. A site with its own
NinjaAPI can skip this module and mount the routers itself (see docs/installation.md).
"""

from __future__ import annotations

from django.apps import apps
from django.utils.module_loading import import_string
from ninja import NinjaAPI

from transcription_platform import __version__
from transcription_platform.exceptions import install_exception_handlers


def iter_routers() -> list[tuple[str, object]]:
    """(prefix, router) of every installed app that exposes API routes."""
    mounted = []
    for config in apps.get_app_configs():
        for prefix, dotted in getattr(config, "api_routers", ()):
            mounted.append((prefix, import_string(dotted)))
    return mounted


def build_api(**kwargs: object) -> NinjaAPI:
    """A NinjaAPI with every installed app's routers and our error handlers."""
    options = {
        "title": "transcription_platform API",
        "version": __version__,
        "description": "Upload audio, follow the job, fetch the transcript.",
        "urls_namespace": "transcription_platform",
    }
    options.update(kwargs)
    api = NinjaAPI(**options)
    install_exception_handlers(api)
    for prefix, router in iter_routers():
        api.add_router(prefix, router)
    return api


api = build_api()
