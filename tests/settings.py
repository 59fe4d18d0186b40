"""Settings of the test project: SQLite by default, PostgreSQL when DATABASE_URL is set."""

import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "tests-only-not-a-secret-but-long-enough-for-hs256"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _database() -> dict[str, Any]:
    url = os.environ.get("DATABASE_URL")
    if not url:
        # The test database is a file, not ":memory:": Django shares an in-memory
        # database between threads through SQLite's shared cache, whose table locks fail
        # at once ("database table is locked") where a real file's lock waits. The
        # library's own threads (the audit batch writer, lease renewals) and the live
        # servers' threads then met the test's writes as random errors. WAL lets readers
        # run beside the writer, as on the demo's file database; IMMEDIATE makes a
        # transaction take the write lock when it begins and wait for it (a read
        # transaction upgraded to a write after another thread's commit fails at once,
        # "database is locked"); synchronous=OFF because a test database need not
        # survive a power cut.
        name = f"tp-tests-{os.getpid()}.sqlite3"
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
            "TEST": {"NAME": str(Path(tempfile.gettempdir()) / name)},
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF",
            },
        }
    parsed = urlparse(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.path.lstrip("/") or "test",
        "USER": parsed.username or "postgres",
        "PASSWORD": parsed.password or "",
        "HOST": parsed.hostname or "127.0.0.1",
        "PORT": parsed.port or 5432,
        "CONN_MAX_AGE": 0,
    }


DATABASES = {"default": _database()}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "ninja",  # serves the Swagger UI's assets itself (no CDN)
    "ninja_jwt",
    "ninja_jwt.token_blacklist",
    "transcription_platform",
    "transcription_platform.accounts",
    "transcription_platform.transcriptions",
    "transcription_platform.analysis",
    "transcription_platform.billing",
    "transcription_platform.analytics",
    "transcription_platform.audit",
    "transcription_platform.health",
    "transcription_platform.openai_compat",
    "transcription_platform.notifications",
    "transcription_platform.oidc",
    "transcription_platform.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": os.environ.get("TP_TEST_MEDIA", "/tmp/tp-test-media")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast tests
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

Q_CLUSTER = {"name": "tests", "orm": "default", "sync": True, "timeout": 300, "retry": 360}

TRANSCRIPTION_PLATFORM = {
    # The library's default is closed; most tests sign up through the API.
    "REGISTRATION_OPEN": True,
    # ninja copies auth callbacks when the API is built: list OidcAuth from the start
    # (it ignores every token while OIDC_ISSUERS is empty).
    "AUTHENTICATION": [
        "transcription_platform.oidc.auth.OidcAuth",
        "transcription_platform.auth.PlatformAuth",
    ],
    "ENGINES": {
        "default": {
            "BACKEND": "transcription_platform.engines.fake.FakeEngine",
            "OPTIONS": {},
        },
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django-q": {"handlers": ["null"], "propagate": False}},
}
