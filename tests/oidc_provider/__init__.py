"""A tiny real OpenID Connect provider (django-oauth-toolkit) for tests/oidc.

It runs in its own process with its own SQLite database; tests/oidc/conftest.py starts
it with runserver on 127.0.0.1. Environment: ``TP_IDP_ISSUER``, ``TP_IDP_DB``,
``TP_IDP_KEY`` (PEM file of the active RSA key), ``TP_IDP_OLD_KEYS`` (PEM files of keys
still published, ``os.pathsep``-separated).
"""

PASSWORD = "provider-pass-123"
CLIENT_SECRET = "client-secret-123"
