"""Error codes of the core package (Saleor's ``error_codes.py`` pattern).

Every app keeps its own enum in its ``error_codes.py``; clients switch on the values
(``{"error": {"code": "not_found", ...}}``), so they are stable and each is documented in
docs/api.md (a test loops over every enum). The same condition has the same code
everywhere: a code lives in the lowest layer that raises it.
"""

from __future__ import annotations

from enum import StrEnum


class PlatformErrorCode(StrEnum):
    """Codes raised by the core package, the HTTP mapping and shared validators."""

    ERROR = "error"
    BAD_REQUEST = "bad_request"
    NOT_AUTHENTICATED = "not_authenticated"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    CONFLICT = "conflict"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    VALIDATION_ERROR = "validation_error"
    RATE_LIMITED = "rate_limited"
    RANGE_NOT_SATISFIABLE = "range_not_satisfiable"
    INTERNAL_ERROR = "internal_error"
    SERVICE_UNAVAILABLE = "service_unavailable"
    CONFIGURATION_ERROR = "configuration_error"
    PAGE_NOT_FOUND = "page_not_found"
    DECRYPTION_FAILED = "decryption_failed"
    INVALID_LANGUAGE = "invalid_language"
    REGISTRATION_CLOSED = "registration_closed"
    UNSUPPORTED_LANGUAGE = "unsupported_language"
    # API-key scopes (transcription_platform.scopes).
    INSUFFICIENT_SCOPE = "insufficient_scope"
    SESSION_REQUIRED = "session_required"
