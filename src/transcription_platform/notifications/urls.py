"""The real-time streams, mounted under the API's prefix by ``transcription_platform.urls``
(through ``api_urlpatterns`` on the app's ``AppConfig``)."""

from django.urls import path

from transcription_platform.notifications import views

urlpatterns = [
    path(
        "transcriptions/<uuid:pk>/events",
        views.transcription_events,
        name="transcription-events",
    ),
    path("events", views.user_events, name="events"),
]
