"""Local development and the demo: DEBUG on (``DJANGO_DEBUG=false`` turns it off), the
offline speech engine by default.

No public fallback ``SECRET_KEY``: without ``DJANGO_SECRET_KEY`` each checkout generates
its own random key once, in ``DJANGO_VAR_DIR/secret_key`` (git-ignored, mode 0600).
A key printed in the repository would let anyone forge a JWT for the admin of any
local server reachable from the network.

Cloud engines are added when their keys are set (``OPENAI_API_KEY``,
``VOXTRAL_API_KEY``); a transcription picks one with ``engine="openai"``.
"""

import os
import tempfile
from pathlib import Path

from django.core.management.utils import get_random_secret_key

from .base import *  # noqa: F403
from .base import BASE_DIR, LOG_LEVEL, SECRET_KEY, VAR_DIR, build_logging, env, init_sentry

# On by default for development; DJANGO_DEBUG=false turns it off, e.g. to measure
# without DEBUG's per-query logging or to see the production error pages.
DEBUG = env.bool("DJANGO_DEBUG", default=True)

# SQLite, the file cache and this checkout's key live here.
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _checkout_secret_key(path: Path) -> str:
    """This checkout's own key: read from ``path``, created there on first use."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    key = get_random_secret_key()
    handle, draft = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
    with os.fdopen(handle, "w") as out:
        out.write(key)
    try:
        # A hard link appears whole or not at all, and never replaces a key: two
        # processes starting at once (server and worker) end up with the same one.
        os.link(draft, path)
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        os.unlink(draft)
    return key


SECRET_KEY = SECRET_KEY or _checkout_secret_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"]
)
CORS_ALLOWED_ORIGINS = env.list(
    "DJANGO_CORS_ALLOWED_ORIGINS", default=["http://localhost:3000", "http://127.0.0.1:3000"]
)

LOGGING = build_logging(Path(env.str("DJANGO_LOG_DIR", default=str(BASE_DIR / "logs"))), LOG_LEVEL)
SENTRY_ENABLED = init_sentry("local")
