"""What went wrong when calling a provider, said once for every plugin family.

A provider client (see `transcription_platform.openai_client`) turns its SDK's
exception into a `ProviderFailure`: a *kind* from the list below, whether
retrying may help, the provider's own words and its ``Retry-After`` hint. Each plugin
family then picks its error code for the kind (codes stay per family: clients switch
on ``engine_rate_limited`` or ``analysis_unavailable``) and `ProviderFailure.error`
builds the family's `transcription_platform.exceptions.RetryableError` or
`transcription_platform.exceptions.PermanentError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from transcription_platform.exceptions import BackendError, PermanentError, RetryableError

# Failure kinds. Retryable: the first four; the rest are permanent.
TIMEOUT = "timeout"
UNREACHABLE = "unreachable"
RATE_LIMITED = "rate_limited"
UNAVAILABLE = "unavailable"
QUOTA_EXCEEDED = "quota_exceeded"
AUTH_FAILED = "auth_failed"
NO_API_KEY = "no_api_key"
NOT_FOUND = "not_found"
TOO_LARGE = "too_large"
CONTEXT_TOO_LONG = "context_too_long"
BAD_REQUEST = "bad_request"
UNEXPECTED = "unexpected"

RETRYABLE_KINDS = frozenset({TIMEOUT, UNREACHABLE, RATE_LIMITED, UNAVAILABLE})

# How each kind reads in a message, after "The <provider> ".
_PHRASES = {
    TIMEOUT: "did not answer in time (timed out)",
    UNREACHABLE: "could not be reached",
    RATE_LIMITED: "is rate limiting requests",
    UNAVAILABLE: "is busy or failing",
    QUOTA_EXCEEDED: "account is out of quota",
    AUTH_FAILED: "rejected the API key",
    NO_API_KEY: "cannot be called without an API key",
    NOT_FOUND: "does not know the model or endpoint",
    TOO_LARGE: "refused the upload as too large",
    CONTEXT_TOO_LONG: "said the input is longer than the model's context",
    BAD_REQUEST: "refused the request",
    UNEXPECTED: "answered unexpectedly",
}


def kind_for_status(status: int, provider_code: str | None = None) -> str:
    """The failure kind of an HTTP error answer.

    Args:
        status: The HTTP status code.
        provider_code: The provider's machine-readable error code or type, if any.

    Returns:
        One of the kinds of this module.
    """
    if status == 429 and provider_code == "insufficient_quota":
        return QUOTA_EXCEEDED  # billing, not load: waiting will not help
    if status == 429:
        return RATE_LIMITED
    if status in (408, 409) or status >= 500:
        return UNAVAILABLE
    if provider_code == "context_length_exceeded":
        return CONTEXT_TOO_LONG
    return {401: AUTH_FAILED, 403: AUTH_FAILED, 404: NOT_FOUND, 413: TOO_LARGE}.get(
        status, BAD_REQUEST
    )


@dataclass(frozen=True)
class ProviderFailure:
    """One failed provider call, classified.

    Attributes:
        kind: One of the kinds of this module.
        detail: The provider's own message (or ours, when it gave none), for humans.
        status: The HTTP status of the answer, None when there was no answer.
        retry_after: The provider's hint in seconds before trying again, or None.
    """

    kind: str
    detail: str = ""
    status: int | None = None
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        """Whether the same call may succeed later."""
        return self.kind in RETRYABLE_KINDS

    def message(self, provider: str) -> str:
        """A human sentence, e.g. "The speech provider is busy or failing (HTTP 503: …)".

        Args:
            provider: What the provider is to the reader ("speech provider").

        Returns:
            The sentence.
        """
        sentence = f"The {provider} {_PHRASES[self.kind]}"
        if self.status is not None:
            return f"{sentence} (HTTP {self.status}: {self.detail})."
        return f"{sentence}: {self.detail}" if self.detail else f"{sentence}."

    def error(
        self,
        *,
        retryable: type[RetryableError],
        permanent: type[PermanentError],
        code: str,
        alias: str | None,
        provider: str,
    ) -> BackendError:
        """This failure as an error of a plugin family.

        Args:
            retryable: The family's retryable error class.
            permanent: The family's permanent error class (or a subclass of it).
            code: The family's error code for `kind`.
            alias: The configured name of the backend that failed.
            provider: What the provider is to the reader, for the message.

        Returns:
            An instance of ``retryable`` or ``permanent``, carrying the HTTP status and
            the ``Retry-After`` hint.
        """
        cls: type[BackendError] = retryable if self.retryable else permanent
        return cls(
            self.message(provider),
            code=code,
            alias=alias,
            provider_status=self.status,
            retry_after=self.retry_after if self.retryable else None,
        )
