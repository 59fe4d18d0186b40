"""Django settings for the benchmark processes: runner, gunicorn and qcluster.

Production-like where it matters for the figures: DEBUG off, PostgreSQL with
persistent connections (``CONN_MAX_AGE``), a Redis cache shared by every process (it
counts the rate limits), the django-q2 ORM broker with 2 workers. Rate limits stay on
but are set far above what the load generator sends, so their bookkeeping is measured
without a 429 ever replacing a real answer.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/tp_bench"
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DATABASE_URL
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
MEDIA_ROOT = Path(
    os.environ.get("BENCH_MEDIA_ROOT") or Path(tempfile.gettempdir()) / "tp-bench-media"
)
CONN_MAX_AGE = int(os.environ.get("BENCH_CONN_MAX_AGE", "60"))

# Signs only the JWTs of a throwaway local database.
SECRET_KEY = "benchmarks-only-not-a-secret-but-long-enough-for-hs256"  # noqa: S105
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "benchmarks.urls"
WSGI_APPLICATION = "benchmarks.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_db = urlparse(DATABASE_URL)
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _db.path.lstrip("/"),
        "USER": _db.username or "postgres",
        "PASSWORD": _db.password or "",
        "HOST": _db.hostname or "127.0.0.1",
        "PORT": _db.port or 5432,
        "CONN_MAX_AGE": CONN_MAX_AGE,
        # On in the web processes; django-q2 closes stale connections before each task
        # itself, so in the cluster a health check would be one more SELECT per task.
        "CONN_HEALTH_CHECKS": os.environ.get("BENCH_CONN_HEALTH_CHECKS", "1") == "1",
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "ninja_jwt",
    "ninja_jwt.token_blacklist",
    # The DRF reference of the API benchmark (benchmarks/reference/drf.py).
    "rest_framework",
    "transcription_platform",
    "transcription_platform.accounts",
    "transcription_platform.transcriptions",
    "transcription_platform.analysis",
    "transcription_platform.analytics",
    "transcription_platform.audit",
    "transcription_platform.health",
    # The event streams of bench_streams (and the real-time events of every job).
    "transcription_platform.notifications",
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

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Other users of this Redis never see (or clear) the benchmark's keys.
        "KEY_PREFIX": "tp_bench",
    }
}
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_URL = "/static/"
# Long enough for the hour-long job the memory benchmark polls.
NINJA_JWT = {"ACCESS_TOKEN_LIFETIME": timedelta(hours=2)}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]

# The example project's defaults (workers, timeout/retry, poll, save_limit -1: only
# failed tasks are saved, so no per-task pruning).
Q_CLUSTER = {
    "name": "tp_bench",
    "orm": "default",
    "workers": 2,
    "timeout": 900,
    "retry": 1000,
    "max_attempts": 3,
    "catch_up": False,
    "ack_failures": True,
    "poll": float(os.environ.get("BENCH_Q_POLL", "1.0")),
    # Tasks the ORM broker reads per poll query (django-q2's default is 1).
    "bulk": int(os.environ.get("BENCH_Q_BULK", "10")),
    "save_limit": int(os.environ.get("BENCH_Q_SAVE_LIMIT", "-1")),
}

TRANSCRIPTION_PLATFORM = {
    "ENGINES": {
        # The local engine with its defaults (bundled tiny.en, int8, 1 thread, beam 5).
        "default": {
            "BACKEND": "transcription_platform.engines.faster_whisper.FasterWhisperEngine",
            "OPTIONS": {},
        },
        "fake": {
            "BACKEND": "transcription_platform.engines.fake.FakeEngine",
            "OPTIONS": {"latency": 0.0},
        },
    },
    "ANALYSIS_ENABLED": False,
    # The analytics benchmark measures the computation, not the cache.
    "ANALYTICS_CACHE_SECONDS": 0,
    "RATE_LIMITS": {
        "anon": "100000000/d",
        "user": "100000000/d",
        "transcription_create": "100000000/d",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    # django-q2 logs every enqueue and task under "django-q": noise in the table.
    "loggers": {"django-q": {"handlers": ["null"], "propagate": False}},
}
