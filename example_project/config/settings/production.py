"""Production: DEBUG off, secrets only from the environment, HTTPS everywhere.

Required: ``DJANGO_SECRET_KEY`` and ``DATABASE_URL`` (no fallbacks: a missing one
stops start-up with a message naming it). ``DJANGO_ALLOWED_HOSTS`` defaults to the
local host names only, so a public site must set it.
"""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import LOG_LEVEL, SECRET_KEY, build_logging, database_from_env, env, init_sentry

DEBUG = False
if not SECRET_KEY:  # from base: the environment only, never a default
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set; production settings have no fallback. Generate one "
        "with: python -c 'from django.core.management.utils import get_random_secret_key; "
        "print(get_random_secret_key())'"
    )
# gunicorn's gthread workers (gunicorn.conf.py) keep a fixed pool of threads, so
# persistent connections are bounded: workers x threads per web container.
DATABASES = {"default": database_from_env(default_url=None, persistent=True)}

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CORS_ALLOWED_ORIGINS = env.list("DJANGO_CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_ALL_ORIGINS = False
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Behind a proxy every request comes from the proxy's address: name the header that
# carries the client's (e.g. HTTP_X_REAL_IP) so rate limits count per client.
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default=None)

# TLS ends at the proxy, which must set X-Forwarded-Proto (and strip it from clients).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Health probes come over plain HTTP from inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = True
# The API authenticates with bearer tokens, so no script needs to read this cookie.
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"

LOGGING = build_logging(Path(env.str("DJANGO_LOG_DIR", default="/var/log/django")), LOG_LEVEL)

SENTRY_ENABLED = init_sentry("production")
