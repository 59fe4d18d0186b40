"""One exception tree for the library, mapped to HTTP in one place.

Every error the API returns has the shape::

    {"error": {"code": "not_found", "message": "Transcription not found.", "details": null}}

Library code raises these classes; `install_exception_handlers` maps them (and
ninja's, Django's and django-ratelimit's own errors) onto that shape.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.signals import got_request_exception
from django.db.utils import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError

from transcription_platform.error_codes import PlatformErrorCode

logger = logging.getLogger("transcription_platform")


class TranscriptionPlatformError(Exception):
    """Base of every error this library raises on purpose.

    ``code`` is stable and documented (clients switch on it); ``message`` is for humans.
    """

    status_code: int = 400
    code: str = PlatformErrorCode.ERROR
    default_message: str = "The request could not be processed."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        status_code: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            # StrEnum members and plain strings alike; stored as the plain value.
            self.code = str(code)
        if status_code is not None:
            self.status_code = status_code
        self.details = details
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ValidationError(TranscriptionPlatformError, ValueError):
    status_code = 400
    code: str = PlatformErrorCode.VALIDATION_ERROR
    default_message = "The request is invalid."


class AuthenticationFailed(TranscriptionPlatformError):
    status_code = 401
    code: str = PlatformErrorCode.NOT_AUTHENTICATED
    default_message = "Authentication credentials were not provided or are invalid."


class PermissionDenied(TranscriptionPlatformError):
    status_code = 403
    code: str = PlatformErrorCode.PERMISSION_DENIED
    default_message = "You do not have permission to perform this action."


class RegistrationClosed(PermissionDenied):
    code: str = PlatformErrorCode.REGISTRATION_CLOSED
    default_message = "Registration is closed on this site; ask an administrator for an account."


class NotFound(TranscriptionPlatformError, LookupError):
    status_code = 404
    code: str = PlatformErrorCode.NOT_FOUND
    default_message = "Not found."


class Conflict(TranscriptionPlatformError):
    status_code = 409
    code: str = PlatformErrorCode.CONFLICT
    default_message = "The resource is not in a state that allows this action."


class PayloadTooLarge(ValidationError):
    status_code = 413
    code: str = PlatformErrorCode.PAYLOAD_TOO_LARGE
    default_message = "The uploaded file is too large."


class RangeNotSatisfiable(TranscriptionPlatformError):
    """A byte range that starts past the end of the file (answered with
    ``Content-Range: bytes */<size>``)."""

    status_code = 416
    code: str = PlatformErrorCode.RANGE_NOT_SATISFIABLE
    default_message = "The requested range starts past the end of the file."

    def __init__(self, size: int) -> None:
        super().__init__(details={"size": size})


class RateLimited(TranscriptionPlatformError):
    status_code = 429
    code: str = PlatformErrorCode.RATE_LIMITED
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: float = 60, **kw: Any) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(message, details={"retry_after": self.retry_after}, **kw)


class ServiceUnavailable(TranscriptionPlatformError):
    status_code = 503
    code: str = PlatformErrorCode.SERVICE_UNAVAILABLE
    default_message = "The service is temporarily unavailable."
    #: Seconds a client should wait before trying again (the ``Retry-After`` header) when
    #: the failure gives no better hint.
    default_retry_after: int = 30


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not be reached or refused to work (connection lost, too many
    clients, a lock or statement timeout): the request may succeed once it is back."""

    default_message = "The database is temporarily unavailable. Retry later."


class BackendError(TranscriptionPlatformError):
    """A pluggable backend (an engine, an analyzer...) failed to do its work.

    Every family's errors derive from `RetryableError` or `PermanentError`,
    so the pipeline decides "try again later" or "fail" the same way for all of them.

    Args:
        message: For humans; the family's default message when None.
        code: A stable, documented error code; the class's when None.
        details: JSON-serialisable context for the API's ``details``.
        alias: The configured name of the backend (its key in the settings).
        provider_status: The HTTP status the provider answered with, if any.
        retry_after: The provider's hint, in seconds, before trying again (or None).
    """

    status_code = 502
    default_message = "A backend service failed."
    #: Whether trying the same work again later may succeed.
    retryable: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        alias: str | None = None,
        provider_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.alias = alias
        self.provider_status = provider_status
        self.retry_after = retry_after
        super().__init__(message, code=code, details=details)


class RetryableError(BackendError, ServiceUnavailable):
    """Worth trying again later (rate limits, 5xx, timeouts); ``retry_after`` may say when."""

    status_code = 503
    default_message = "A backend service is temporarily unavailable."
    retryable = True


class PermanentError(BackendError):
    """Trying the same work again cannot succeed (auth, bad input, refusal)."""

    default_message = "A backend service rejected the request."


class ConfigurationError(TranscriptionPlatformError, ImproperlyConfigured):
    """A setting is wrong; subclassing ImproperlyConfigured so nothing swallows it."""

    status_code = 500
    code: str = PlatformErrorCode.CONFIGURATION_ERROR


class MissingExtra(ImportError):
    """An optional dependency is missing; the message names the pip line that fixes it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed. Install it with: "
            f'pip install "transcription-platform[{extra}]"'
        )


# --------------------------------------------------------------------------- HTTP mapping

#: Database errors that mean "unavailable", answered 503 (see `database_unavailable_response`).
DATABASE_OUTAGE_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)

STATUS_CODES: dict[int, PlatformErrorCode] = {
    400: PlatformErrorCode.BAD_REQUEST,
    401: PlatformErrorCode.NOT_AUTHENTICATED,
    403: PlatformErrorCode.PERMISSION_DENIED,
    404: PlatformErrorCode.NOT_FOUND,
    405: PlatformErrorCode.METHOD_NOT_ALLOWED,
    409: PlatformErrorCode.CONFLICT,
    413: PlatformErrorCode.PAYLOAD_TOO_LARGE,
    415: PlatformErrorCode.UNSUPPORTED_MEDIA_TYPE,
    422: PlatformErrorCode.VALIDATION_ERROR,
    429: PlatformErrorCode.RATE_LIMITED,
    500: PlatformErrorCode.INTERNAL_ERROR,
    503: PlatformErrorCode.SERVICE_UNAVAILABLE,
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def retry_after_header(exc: TranscriptionPlatformError) -> str | None:
    """The ``Retry-After`` value (whole seconds) for a 429 or a 503, else None.

    Args:
        exc: The error being answered.

    Returns:
        A backend's own hint (``RetryableError.retry_after``) when it gave one, the
        class's default otherwise; None for errors that retrying does not fix.
    """
    if isinstance(exc, RateLimited):
        return str(exc.retry_after)
    if isinstance(exc, ServiceUnavailable):
        hint = getattr(exc, "retry_after", None) or exc.default_retry_after
        return str(max(1, math.ceil(hint)))
    return None


def response_for(exc: TranscriptionPlatformError) -> JsonResponse:
    headers = {}
    retry_after = retry_after_header(exc)
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)


def _ninja_validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ninja's pydantic errors, trimmed to what a client needs (no input echo)."""
    details = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        # ("body", "payload", "email") → "email"; keep the source (query/path/form).
        source = loc[0] if loc else ""
        field = ".".join(p for p in loc[1:] if p not in ("payload", "data"))
        details.append({"field": field, "source": source, "message": err.get("msg", "")})
    return details


def platform_error_response(request: HttpRequest, exc: TranscriptionPlatformError) -> HttpResponse:
    """Our own errors: their status, code, message and details."""
    if exc.status_code >= 500:
        logger.error("Server-side error on %s: %s", request.path, exc.code)
    return response_for(exc)


def schema_error_response(request: HttpRequest, exc: Any) -> HttpResponse:
    """ninja's request validation (the body, query or path does not match the schema)."""
    return error_response(
        422,
        PlatformErrorCode.VALIDATION_ERROR,
        "The request is invalid.",
        _ninja_validation_details(exc.errors),
    )


def unauthenticated_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """No credentials, or none that an auth class accepted."""
    return response_for(AuthenticationFailed())


def forbidden_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """ninja's and Django's permission errors."""
    return response_for(PermissionDenied())


def bad_multipart_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A multipart body Django cannot parse."""
    return error_response(
        400, PlatformErrorCode.BAD_REQUEST, "The multipart body could not be parsed."
    )


def too_big_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Django's DATA_UPLOAD_MAX_MEMORY_SIZE and friends."""
    return response_for(PayloadTooLarge("The request body is too large."))


def suspicious_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Too many fields, bad headers…: Django's own 400s, in our shape."""
    return error_response(400, PlatformErrorCode.BAD_REQUEST, "The request is malformed.")


def not_found_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Http404 raised by an operation (get_object_or_404…)."""
    return response_for(NotFound())


def ratelimited_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """django-ratelimit's own exception (a decorator outside ours)."""
    return response_for(RateLimited())


#: Set on the request by the rate-limit throttle that refused it (see ratelimit.py).
RATE_LIMITED_ATTR = "_tp_rate_limited"


def throttled_response(request: HttpRequest, exc: Any) -> HttpResponse:
    """ninja's Throttled: our rate limits (and any throttle a site adds) → 429."""
    limited = getattr(request, RATE_LIMITED_ATTR, None)
    if not isinstance(limited, RateLimited):
        limited = RateLimited(retry_after=exc.wait or 60)
    return response_for(limited)


def http_error_response(request: HttpRequest, exc: Any) -> HttpResponse:
    """ninja's HttpError (the CSRF check of session auth, among others).

    ninja wraps whatever the body parser raises in a 400 "Cannot parse request body";
    an error of our own raised by the parser (a NUL character) keeps its code and details.
    """
    if isinstance(exc.__cause__, TranscriptionPlatformError):
        return response_for(exc.__cause__)
    status = exc.status_code
    code = STATUS_CODES.get(status, PlatformErrorCode.ERROR)
    return error_response(status, code, str(exc.message))


def database_unavailable_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The database is down or refusing work: 503 + ``Retry-After``, not a 500.

    Only Django's ``OperationalError`` and ``InterfaceError`` land here (connection
    refused or lost, too many clients, timeouts, SQLite's "database is locked"):
    conditions outside the request's control that go away. Integrity and programming
    errors stay 500s: they are bugs.
    """
    if not is_database_outage(exc):
        return unexpected_error_response(request, exc)
    logger.error(
        "Database unavailable on %s %s: %s", request.method, request.path, exc, exc_info=exc
    )
    # Sentry's Django integration listens to this signal: an outage is worth an alert.
    got_request_exception.send(sender=None, request=request)
    return response_for(DatabaseUnavailable())


#: What SQLite says when it is the database's state, not the query, that fails.
_SQLITE_OUTAGE_MESSAGES = ("locked", "busy", "unable to open", "disk i/o", "readonly")


def is_database_outage(exc: BaseException) -> bool:
    """Whether a database error means "unavailable, retry later" rather than a bug.

    PostgreSQL (psycopg) raises ``OperationalError`` for refused or lost connections,
    too many clients, timeouts and deadlocks only; SQLite also raises it for schema
    mistakes ("no such table"), so there only lock and file errors count.

    Args:
        exc: A database exception (Django's wrapper).

    Returns:
        True for an outage (answered 503), False for anything else (a 500).
    """
    if not isinstance(exc, DATABASE_OUTAGE_ERRORS):
        return False
    if type(exc.__cause__).__module__ == "sqlite3":
        message = str(exc).lower()
        return any(marker in message for marker in _SQLITE_OUTAGE_MESSAGES)
    return True


def unexpected_error_response(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Anything else: a 500 that leaks nothing.

    The full traceback goes to the logs; got_request_exception reaches Sentry's Django
    integration (and makes the test client re-raise).
    """
    logger.exception("Unhandled error on %s %s", request.method, request.path)
    got_request_exception.send(sender=None, request=request)
    return error_response(500, PlatformErrorCode.INTERNAL_ERROR, "An internal error occurred.")


def install_exception_handlers(api: Any) -> None:
    """Register the handlers that give every error of ``api`` our shape.

    Args:
        api: A django-ninja ``NinjaAPI``.
    """
    # Imported here: importing ninja reads Django's settings, and this module is
    # imported by code that runs before they are configured.
    from django_ratelimit.exceptions import Ratelimited
    from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled
    from ninja.errors import ValidationError as NinjaValidationError

    handlers: list[tuple[type[Exception], Any]] = [
        (TranscriptionPlatformError, platform_error_response),
        (NinjaValidationError, schema_error_response),
        (AuthenticationError, unauthenticated_response),
        (AuthorizationError, forbidden_response),
        (DjangoPermissionDenied, forbidden_response),
        (MultiPartParserError, bad_multipart_response),
        (RequestDataTooBig, too_big_response),
        (SuspiciousOperation, suspicious_response),
        (Http404, not_found_response),
        (Ratelimited, ratelimited_response),
        (Throttled, throttled_response),
        (HttpError, http_error_response),
        *((error, database_unavailable_response) for error in DATABASE_OUTAGE_ERRORS),
        (Exception, unexpected_error_response),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)
