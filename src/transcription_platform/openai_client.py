"""The OpenAI SDK, set up and classified once for every plugin that uses it.

The OpenAI speech engine and the OpenAI analyzer (and any OpenAI-compatible server:
Mistral, Groq, vLLM, speaches… through ``base_url``) build their clients with
`create_client` and turn SDK exceptions into a
`transcription_platform.providers.ProviderFailure` with `classify`.
The SDK's own retries are off: the pipeline retries, classified, bounded and
``Retry-After`` aware, without holding a worker.
"""

from __future__ import annotations

import os
from typing import Any

import openai

from transcription_platform import providers
from transcription_platform.providers import ProviderFailure
from transcription_platform.retry import retry_after_seconds


class MissingApiKey(openai.OpenAIError):
    """No key was given and ``OPENAI_API_KEY`` is not set."""


def create_client(*, api_key: str | None, base_url: str | None, timeout: float) -> openai.OpenAI:
    """An SDK client with our timeouts and without SDK retries.

    Args:
        api_key: The key to send; None falls back to ``OPENAI_API_KEY``.
        base_url: An OpenAI-compatible endpoint; None is the SDK's default
            (``OPENAI_BASE_URL`` or api.openai.com).
        timeout: Seconds per request.

    Returns:
        A client; close it (``with client:``) when it served one call only.

    Raises:
        MissingApiKey: Neither ``api_key`` nor ``OPENAI_API_KEY`` gives a key.
    """
    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        raise MissingApiKey("No API key: none configured and OPENAI_API_KEY is not set.")
    # max_retries=0: retries are the pipeline's (it reschedules instead of sleeping).
    return openai.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=0)


def classify(exc: openai.OpenAIError) -> ProviderFailure:
    """What an SDK exception means: its failure kind, detail, status and Retry-After.

    Args:
        exc: Anything the SDK raised (or `MissingApiKey`).

    Returns:
        The classified failure; see `transcription_platform.providers` for kinds.
    """
    if isinstance(exc, MissingApiKey):
        return ProviderFailure(
            providers.NO_API_KEY,
            "set OPTIONS['api_key'], the OPENAI_API_KEY environment variable or a per-user key",
        )
    if isinstance(exc, openai.APITimeoutError):
        return ProviderFailure(providers.TIMEOUT)
    if isinstance(exc, openai.APIConnectionError):
        return ProviderFailure(providers.UNREACHABLE)
    if not isinstance(exc, openai.APIStatusError):
        return ProviderFailure(providers.UNEXPECTED, str(exc)[:500])
    provider_code, detail = _error_body(exc)
    kind = providers.kind_for_status(exc.status_code, provider_code)
    retry_after = (
        retry_after_seconds(exc.response.headers) if kind in providers.RETRYABLE_KINDS else None
    )
    return ProviderFailure(kind, detail, exc.status_code, retry_after)


def _error_body(exc: Any) -> tuple[str | None, str]:
    """(code, message) from the provider's error body, as far as it has them."""
    # The SDK stores the body's "error" object, or the whole body, or raw text.
    body = exc.body
    if isinstance(body, dict):
        nested = body.get("error")
        error: dict[str, Any] = nested if isinstance(nested, dict) else body
        code = error.get("code") or error.get("type")
        message = error.get("message")
        return (
            code if isinstance(code, str) else None,
            str(message if isinstance(message, str) and message else exc.message)[:500],
        )
    return None, str(exc.message)[:500]
