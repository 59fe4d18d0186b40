"""Enterprise sign-in: bearer access tokens from OpenID Connect issuers (``OIDC_ISSUERS``).

Add ``"transcription_platform.oidc"`` to ``INSTALLED_APPS`` and
``"transcription_platform.oidc.auth.OidcAuth"`` to ``AUTHENTICATION``; see docs/sso.md.
"""
