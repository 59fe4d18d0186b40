"""Fast, isolated settings for running the example project under test.

In-memory SQLite (or ``DATABASE_URL``), a local-memory cache, django-q2 in sync mode
and the fake engine that ships with the library, so nothing touches the network.
"""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import SECRET_KEY, TRANSCRIPTION_PLATFORM, build_logging, database_from_env

DEBUG = False
SECRET_KEY = SECRET_KEY or "example-project-tests-only-not-a-secret"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
DATABASES = {"default": database_from_env("sqlite://:memory:")}
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

_TMP = Path(tempfile.gettempdir()) / "transcription-platform-example-tests"
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(_TMP / "media")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = build_logging(_TMP / "logs", "WARNING")

Q_CLUSTER = {"name": "example-tests", "orm": "default", "sync": True, "timeout": 60, "retry": 90}

TRANSCRIPTION_PLATFORM = {
    **TRANSCRIPTION_PLATFORM,
    "ENGINES": {
        "default": {"BACKEND": "transcription_platform.engines.fake.FakeEngine", "OPTIONS": {}}
    },
    "DEFAULT_ENGINE": "default",
}
