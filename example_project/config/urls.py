"""URLs of the example project: the library is an ``include`` line per face."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("admin/", admin.site.urls),
    # /healthz (liveness) for load balancers and orchestrators.
    path("", include("transcription_platform.health.urls")),
    path("rest/api/v1/", include("transcription_platform.urls")),
    path("v1/", include("transcription_platform.openai_compat.urls")),  # OpenAI SDKs
    path("app/", include("transcription_platform.web.urls")),  # pages; sign in at /app/login/
    path("", RedirectView.as_view(url="/rest/api/v1/docs", permanent=False)),
]
