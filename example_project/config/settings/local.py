"""Local development and the demo: DEBUG on (``DJANGO_DEBUG=false`` turns it off), the
offline speech engine by default.

Cloud engines are added when their keys are set (``OPENAI_API_KEY``,
``VOXTRAL_API_KEY``); a transcription picks one with ``engine="openai"``.
"""

from pathlib import Path

from .base import *  # noqa: F403
from .base import BASE_DIR, LOG_LEVEL, SECRET_KEY, VAR_DIR, build_logging, env, init_sentry

# On by default for development; DJANGO_DEBUG=false turns it off, e.g. to measure
# without DEBUG's per-query logging or to see the production error pages.
DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = SECRET_KEY or (
    "django-insecure-local-development-only-never-use-this-key-in-production"
)
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CORS_ALLOWED_ORIGINS = env.list(
    "DJANGO_CORS_ALLOWED_ORIGINS", default=["http://localhost:3000", "http://127.0.0.1:3000"]
)

# SQLite and the file cache live here; SQLite does not create missing directories.
VAR_DIR.mkdir(parents=True, exist_ok=True)

LOGGING = build_logging(Path(env.str("DJANGO_LOG_DIR", default=str(BASE_DIR / "logs"))), LOG_LEVEL)
SENTRY_ENABLED = init_sentry("local")
