"""Mount the OpenAI-compatible endpoint with one line in a site's urls.py::

    path("v1/", include("transcription_platform.openai_compat.urls")),

so that ``OpenAI(base_url="https://example.com/v1", api_key="tp_…")`` works.
Every path under that prefix answers in OpenAI's error shape.
"""

from django.urls import path, re_path

from transcription_platform.openai_compat import views

app_name = "openai_compat"

urlpatterns = [
    path("audio/transcriptions", views.create_transcription, name="transcriptions"),
    path("audio/translations", views.create_translation, name="translations"),
    path("models", views.list_models, name="models"),
    path("models/<str:model>", views.retrieve_model, name="model"),
    # [\s\S], not ".": an encoded newline must not escape to an HTML 404.
    re_path(r"^(?P<unmatched>[\s\S]*)$", views.not_found),
]
