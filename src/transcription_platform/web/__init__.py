"""Server-rendered pages over the platform: upload, live progress, a transcript reader
with audio sync, and a staff dashboard.

Optional. A site adds ``"transcription_platform.web"`` to ``INSTALLED_APPS``, lists
``"transcription_platform.auth.SessionAuth"`` in ``AUTHENTICATION`` (the pages call the
JSON API with the session) and mounts the pages with one line::

    path("app/", include("transcription_platform.web.urls")),

The templates live under ``transcription_platform/web/`` and are overridden the usual
Django way. See docs/web.md.
"""
