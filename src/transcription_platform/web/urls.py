"""The pages, mounted by a site with one line (any prefix)::

path("app/", include("transcription_platform.web.urls")),
"""

from django.urls import path

from transcription_platform.web import views

app_name = "transcription_platform_web"

urlpatterns = [
    path("", views.transcription_list, name="transcriptions"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("upload/", views.upload, name="upload"),
    path("transcriptions/<uuid:transcription_id>/", views.reader, name="reader"),
    path("transcriptions/<uuid:transcription_id>/audio", views.audio, name="audio"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
