"""One exception tree for the library, mapped to HTTP in one place.

Every error the API returns has the shape::

    {"error": {"code": "not_found", "message": "Transcription not found.", "details": null}}

Library code raises these classes; :func:`install_exception_handlers` maps them (and
ninja's, Django's and django-ratelimit's own errors) onto that shape.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.signals import got_request_exception
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError

logger = logging.getLogger("transcription_platform")


class TranscriptionPlatformError(Exception):
    """Base of every error this library raises on purpose.

    ``code`` is stable and documented (clients switch on it); ``message`` is for humans.
    """

    status_code: int = 400
    code: str = "error"
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
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ValidationError(TranscriptionPlatformError, ValueError):
    status_code = 400
    code = "validation_error"
    default_message = "The request is invalid."


class AuthenticationFailed(TranscriptionPlatformError):
    status_code = 401
    code = "not_authenticated"
    default_message = "Authentication credentials were not provided or are invalid."


class PermissionDenied(TranscriptionPlatformError):
    status_code = 403
    code = "permission_denied"
    default_message = "You do not have permission to perform this action."


class RegistrationClosed(PermissionDenied):
    code = "registration_closed"
    default_message = "Registration is closed on this site; ask an administrator for an account."


class NotFound(TranscriptionPlatformError, LookupError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(TranscriptionPlatformError):
    status_code = 409
    code = "conflict"
    default_message = "The resource is not in a state that allows this action."


class PayloadTooLarge(ValidationError):
    status_code = 413
    code = "payload_too_large"
    default_message = "The uploaded file is too large."


class UnsupportedMediaType(ValidationError):
    status_code = 415
    code = "unsupported_media_type"
    default_message = "The uploaded file is not a supported audio format."


class RateLimited(TranscriptionPlatformError):
    status_code = 429
    code = "rate_limited"
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, *, retry_after: float = 60, **kw: Any) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(message, details={"retry_after": self.retry_after}, **kw)


class ServiceUnavailable(TranscriptionPlatformError):
    status_code = 503
    code = "service_unavailable"
    default_message = "The service is temporarily unavailable."


class BackendError(TranscriptionPlatformError):
    """A pluggable backend (an engine, an analyzer...) failed to do its work.

    Every family's errors derive from :class:`RetryableError` or :class:`PermanentError`,
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
    code = "configuration_error"


class MissingExtra(ImportError):
    """An optional dependency is missing; the message names the pip line that fixes it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed. Install it with: "
            f'pip install "transcription-platform[{extra}]"'
        )


# --------------------------------------------------------------------------- HTTP mapping

STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict | None = None
) -> JsonResponse:
    response = JsonResponse(error_body(code, message, details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def response_for(exc: TranscriptionPlatformError) -> JsonResponse:
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
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


def install_exception_handlers(api: Any) -> None:
    """Register the handlers that give every error of ``api`` our shape."""
    from django_ratelimit.exceptions import Ratelimited
    from ninja.errors import AuthenticationError, AuthorizationError, HttpError
    from ninja.errors import ValidationError as NinjaValidationError

    @api.exception_handler(TranscriptionPlatformError)
    def _platform_error(request: HttpRequest, exc: TranscriptionPlatformError) -> HttpResponse:
        if exc.status_code >= 500:
            logger.error("Server-side error on %s: %s", request.path, exc.code)
        return response_for(exc)

    @api.exception_handler(NinjaValidationError)
    def _validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return error_response(
            422,
            "validation_error",
            "The request is invalid.",
            _ninja_validation_details(exc.errors),
        )

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
        return response_for(AuthenticationFailed())

    @api.exception_handler(AuthorizationError)
    def _forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
        return response_for(PermissionDenied())

    @api.exception_handler(DjangoPermissionDenied)
    def _django_forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
        return response_for(PermissionDenied())

    @api.exception_handler(MultiPartParserError)
    def _bad_multipart(request: HttpRequest, exc: Exception) -> HttpResponse:
        return error_response(400, "bad_request", "The multipart body could not be parsed.")

    @api.exception_handler(RequestDataTooBig)
    def _too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
        return response_for(PayloadTooLarge("The request body is too large."))

    @api.exception_handler(SuspiciousOperation)
    def _suspicious(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Too many fields, bad headers…: Django's own 400s, in our shape.
        return error_response(400, "bad_request", "The request is malformed.")

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        return response_for(NotFound())

    @api.exception_handler(Ratelimited)
    def _ratelimited(request: HttpRequest, exc: Exception) -> HttpResponse:
        return response_for(RateLimited())

    @api.exception_handler(HttpError)
    def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        status = exc.status_code
        return error_response(status, STATUS_CODES.get(status, "error"), str(exc.message))

    @api.exception_handler(Exception)
    def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Full traceback to the logs; got_request_exception reaches Sentry's Django
        # integration (and makes the test client re-raise). Nothing leaks in the body.
        logger.exception("Unhandled error on %s %s", request.method, request.path)
        got_request_exception.send(sender=None, request=request)
        return error_response(500, "internal_error", "An internal error occurred.")
