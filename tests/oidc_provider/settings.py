"""Settings of the test identity provider (see the package docstring)."""

import os
from pathlib import Path

SECRET_KEY = "identity-provider-tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
ROOT_URLCONF = "tests.oidc_provider.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# runserver answers on a thread per request: take SQLite's write lock when a
# transaction starts and wait for it, so two requests never fail with "database is
# locked" upgrading a read lock (seen once under a loaded full run).
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["TP_IDP_DB"],
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
    }
}
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _read(path: str) -> str:
    return Path(path).read_text()


OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": os.environ["TP_IDP_ISSUER"],
    "OIDC_RSA_PRIVATE_KEY": _read(os.environ["TP_IDP_KEY"]),
    "OIDC_RSA_PRIVATE_KEYS_INACTIVE": [
        _read(path) for path in os.environ.get("TP_IDP_OLD_KEYS", "").split(os.pathsep) if path
    ],
    # Access tokens as RS256 JWTs, the way Keycloak, Entra ID and Auth0 issue them.
    "ACCESS_TOKEN_GENERATOR": "tests.oidc_provider.tokens.signed_access_token",
    "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
    "SCOPES": {"openid": "OpenID Connect", "read": "Read"},
    "PKCE_REQUIRED": False,
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
