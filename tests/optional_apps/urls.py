"""tests/urls.py, with /healthz, /app/ and /v1/ only when their apps are installed (as a site
would)."""

from django.apps import apps
from django.urls import include, path

urlpatterns = [path("rest/api/v1/", include("transcription_platform.urls"))]
if apps.is_installed("transcription_platform.health"):
    urlpatterns.append(path("", include("transcription_platform.health.urls")))
if apps.is_installed("transcription_platform.web"):
    urlpatterns.append(path("app/", include("transcription_platform.web.urls")))
if apps.is_installed("transcription_platform.openai_compat"):
    urlpatterns.append(path("v1/", include("transcription_platform.openai_compat.urls")))
