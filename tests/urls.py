from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("transcription_platform.health.urls")),
    path("rest/api/v1/", include("transcription_platform.urls")),
    path("v1/", include("transcription_platform.openai_compat.urls")),
    path("app/", include("transcription_platform.web.urls")),
]
