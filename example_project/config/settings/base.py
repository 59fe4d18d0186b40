"""Settings shared by every environment of the example project.

Everything comes from environment variables (django-environ), with embedded defaults
that work with nothing installed: SQLite, the django-q2 ORM broker, a file cache and
local file storage. ``DATABASE_URL`` switches to PostgreSQL, ``REDIS_URL`` (or
``CACHE_URL``) to a Redis cache. An ``.env`` file beside ``manage.py`` is read when it
exists; ``DJANGO_ENV_FILE`` names another one, or disables it when set empty.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import environ
from corsheaders.defaults import default_headers as default_cors_headers
from django.core.exceptions import ImproperlyConfigured

from transcription_platform.checks import looks_like_placeholder

# example_project/
BASE_DIR = Path(__file__).resolve().parents[2]


class Env(environ.Env):
    def verbatim(self, var: str, default: str = "") -> str:
        """The variable exactly as set. ``env.str`` takes a value starting with "$" for
        a reference to another variable, and Django's key generator uses "$"."""
        return self.ENVIRON.get(var, default)


env = Env()
ENV_FILE = env.str("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    # Never overrides variables already set in the real environment.
    env.read_env(ENV_FILE)

# Runtime data of the embedded defaults (SQLite, media, file cache); git-ignored.
VAR_DIR = Path(env.str("DJANGO_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = False
SECRET_KEY = env.verbatim("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "django_q",
    "ninja",  # serves the Swagger UI's assets itself (no CDN)
    "ninja_jwt",
    "ninja_jwt.token_blacklist",
    "transcription_platform",
    "transcription_platform.accounts",
    "transcription_platform.transcriptions",
    "transcription_platform.analysis",
    "transcription_platform.billing",
    "transcription_platform.analytics",  # optional: product metrics for staff, docs/analytics.md
    "transcription_platform.audit",
    "transcription_platform.health",
    "transcription_platform.openai_compat",  # optional: /v1/ for the OpenAI SDKs
    "transcription_platform.notifications",  # optional: signed webhooks
    "transcription_platform.oidc",  # optional: OpenID Connect sign-in, docs/sso.md
    "transcription_platform.web",  # optional: the pages at /app/, docs/web.md
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before CommonMiddleware so preflight answers carry the CORS headers.
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --------------------------------------------------------------------------- database

# SQLite has to survive the web process and two qcluster workers writing at once:
# WAL lets readers run beside the writer, IMMEDIATE takes the write lock when a
# transaction starts (no deadlock-prone lock upgrades) and busy_timeout waits for it.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "init_command": ("PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;PRAGMA busy_timeout=5000"),
}


def database_from_env(default_url: str | None, *, persistent: bool = False) -> dict[str, Any]:
    """``DATABASE_URL`` (or ``default_url``) as a Django database, tuned per engine.

    ``persistent`` keeps PostgreSQL connections for ``CONN_MAX_AGE`` (default 60 s):
    right for a server with a fixed set of threads (gunicorn's sync workers), wrong for
    one that starts a thread per request (runserver), where every finished thread
    leaves its connection open until the server runs out of them.
    """
    if default_url is None:
        db = env.db_url("DATABASE_URL")
    else:
        db = env.db_url("DATABASE_URL", default=default_url)
    engine = db["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        db.setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
        # Each SQLite connection is a cheap file handle; persistent ones only hold locks.
        db["CONN_MAX_AGE"] = 0
    elif engine in ("django.db.backends.postgresql", "django.contrib.gis.db.backends.postgis"):
        db["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60 if persistent else 0)
        db["CONN_HEALTH_CHECKS"] = True
    else:
        raise ImproperlyConfigured(
            f"DATABASE_URL uses the unsupported engine {engine!r}; "
            "use postgres://... or sqlite:///..."
        )
    return db


DATABASES = {"default": database_from_env(f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --------------------------------------------------------------------------- cache

# Rate limits and the worker heartbeat are counted in this cache, so it must be shared
# by every process: Redis when configured, otherwise a file cache (never locmem). The
# file cache is for one developer's machine: its increments are not atomic, so
# concurrent requests over-admit and `check --deploy` warns (W013).
if env.str("REDIS_URL", default=""):
    CACHES = {
        "default": env.cache_url("REDIS_URL", backend="django.core.cache.backends.redis.RedisCache")
    }
elif env.str("CACHE_URL", default=""):
    CACHES = {"default": env.cache_url("CACHE_URL")}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --------------------------------------------------------------------------- files

MEDIA_ROOT = Path(env.str("DJANGO_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATIC_URL = "/static/"

AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    # Audio in S3 (or any S3-compatible store): pip install "transcription-platform[s3]".
    # Credentials come from the usual AWS_* variables or the instance role.
    default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env.str("AWS_S3_REGION_NAME", default=None),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
else:
    default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": default_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --------------------------------------------------------------------------- i18n, auth

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

CORS_ALLOWED_ORIGINS = env.list("DJANGO_CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_ALL_ORIGINS = False
# The API's own request headers, and the response headers a browser client must read
# (Retry-After on 429, Location of a created job, the export's file name).
CORS_ALLOW_HEADERS = (*default_cors_headers, "idempotency-key", "x-api-key")
CORS_EXPOSE_HEADERS = ["Retry-After", "Location", "Content-Disposition"]
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# --------------------------------------------------------------------------- tasks

# django-q2 on the ORM broker: no extra service. A task may run for `timeout`
# seconds; it is handed to another worker only after `retry`, which must be longer
# or a slow transcription would run twice at once.
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="transcription_platform"),
    "orm": "default",
    "workers": env.int("Q_CLUSTER_WORKERS", default=2),
    "timeout": env.int("Q_CLUSTER_TIMEOUT", default=900),
    "retry": env.int("Q_CLUSTER_RETRY", default=1000),
    "max_attempts": env.int("Q_CLUSTER_MAX_ATTEMPTS", default=3),
    "catch_up": False,
    "ack_failures": True,
    # Seconds an idle cluster waits between ORM broker polls (one query each); a busy
    # queue never waits (docs/operations.md, Task worker).
    "poll": env.float("Q_CLUSTER_POLL", default=1.0),
    # Reads up to 10 waiting tasks per broker query (docs/operations.md, Task worker).
    "bulk": 10,
    # Only failed tasks are saved: a job's state lives in the platform's tables, and a
    # positive limit makes every task lock and scan the saved results to prune one.
    "save_limit": env.int("Q_CLUSTER_SAVE_LIMIT", default=-1),
    "label": "Task queue",
}

# --------------------------------------------------------------------------- library

# The offline engine (faster-whisper with the model bundled in the `demo` extra) is
# "default"; cloud engines join when their keys are set (to a real key, not the
# template's placeholder) and a request picks one by name, or TP_DEFAULT_ENGINE makes
# one the default.
ENGINES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "transcription_platform.engines.faster_whisper.FasterWhisperEngine",
        "OPTIONS": {},
    }
}


def engine_api_key(value: str) -> str:
    """``value``, or "" when it is a template placeholder (``your_..._here``): an engine
    without a real key is not offered, rather than offered and failing at its first
    request."""
    value = value.strip()
    return "" if looks_like_placeholder(value) else value


if OPENAI_API_KEY := engine_api_key(env.str("OPENAI_API_KEY", default="")):
    ENGINES["openai"] = {
        "BACKEND": "transcription_platform.engines.openai.OpenAIEngine",
        "OPTIONS": {"model": "whisper-1", "api_key": OPENAI_API_KEY},
    }
if VOXTRAL_API_KEY := engine_api_key(env.str("VOXTRAL_API_KEY", default="")):
    # Mistral's Voxtral speaks the OpenAI transcription protocol.
    ENGINES["voxtral"] = {
        "BACKEND": "transcription_platform.engines.openai.OpenAIEngine",
        "OPTIONS": {
            "model": "voxtral-mini-latest",
            "api_key": VOXTRAL_API_KEY,
            "base_url": "https://api.mistral.ai/v1",
        },
    }

TRANSCRIPTION_PLATFORM: dict[str, Any] = {
    "ENGINES": ENGINES,
    "DEFAULT_ENGINE": env.str("TP_DEFAULT_ENGINE", default="default"),
    # The demo lets anyone sign up; the library's own default is closed.
    "REGISTRATION_OPEN": env.bool("TP_REGISTRATION_OPEN", default=True),
    "ANALYZERS": {
        "default": {
            "BACKEND": "transcription_platform.analysis.analyzers.extractive.ExtractiveAnalyzer",
            "OPTIONS": {},
        }
    },
    "ANALYSIS_ENABLED": env.bool("TP_ANALYSIS_ENABLED", default=True),
    # The pages at /app/ call the API with the session (CSRF enforced on writes).
    "AUTHENTICATION": [
        "transcription_platform.auth.PlatformAuth",
        "transcription_platform.auth.SessionAuth",
    ],
    # Fernet keys for provider API keys at rest; the first one encrypts.
    "ENCRYPTION_KEYS": env.list("TP_ENCRYPTION_KEYS", default=[]),
}

# --------------------------------------------------------------------------- logging


def build_logging(log_dir: Path, level: str = "INFO") -> dict[str, Any]:
    """Console plus rotating files (15 MB x 10) for the app, errors and the worker.

    The directory is created when missing; a directory that cannot be created is a
    configuration error that names ``DJANGO_LOG_DIR``.
    """
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(
            f"Cannot create the log directory {log_dir} ({exc.strerror}); "
            "set DJANGO_LOG_DIR to a writable directory."
        ) from exc

    def rotating(filename: str, handler_level: str) -> dict[str, Any]:
        return {
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(log_dir / filename),
            "maxBytes": 15 * 1024 * 1024,
            "backupCount": 10,
            "encoding": "utf-8",
            "formatter": "verbose",
            "level": handler_level,
            # The file appears with the first record, not at every import of settings.
            "delay": True,
        }

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "verbose": {
                "format": "%(asctime)s %(levelname)s %(name)s [pid %(process)d] %(message)s"
            },
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "verbose",
                "level": level,
            },
            "app_file": rotating("app.log", level),
            "error_file": rotating("errors.log", "ERROR"),
            "worker_file": rotating("worker.log", level),
        },
        "loggers": {
            "django": {"handlers": ["console", "app_file", "error_file"], "level": level},
            # django.request propagates to "django": only its own level is set here.
            "django.request": {"level": "WARNING"},
            "transcription_platform": {
                "handlers": ["console", "app_file", "error_file"],
                "level": level,
                "propagate": False,
            },
            # django-q2 logs as "django-q" (hyphen), not as its package name "django_q".
            "django-q": {
                "handlers": ["console", "worker_file", "error_file"],
                "level": level,
                "propagate": False,
            },
        },
    }


LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")

# --------------------------------------------------------------------------- sentry


def init_sentry(environment: str) -> bool:
    """Initialise Sentry when ``SENTRY_DSN`` is set; returns whether it was."""
    dsn = env.str("SENTRY_DSN", default="")
    if not dsn:
        return False
    try:
        import sentry_sdk
        from sentry_sdk.integrations.django import DjangoIntegration
    except ImportError as exc:
        raise ImproperlyConfigured(
            "SENTRY_DSN is set but sentry-sdk is not installed: "
            'pip install "transcription-platform[sentry]"'
        ) from exc
    sentry_sdk.init(
        dsn=dsn,
        environment=env.str("SENTRY_ENVIRONMENT", default=environment),
        integrations=[DjangoIntegration()],
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
        # Transcripts and e-mail addresses are personal data: keep them out of events.
        send_default_pii=False,
    )
    return True
