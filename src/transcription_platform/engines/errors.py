"""Errors of the engines package, all inside the library's exception tree.

``InvalidAudio`` is what the upload API returns for a file it cannot use (415 when it is
not audio at all, 400 when it is audio but empty, corrupt or unusable). Engine errors are
classified so the pipeline knows whether to retry: `RetryableEngineError` (rate
limits, 5xx, timeouts, dropped connections) or `PermanentEngineError` (auth, bad
request, unsupported language...).
"""

from __future__ import annotations

from typing import Any, cast

from transcription_platform import providers
from transcription_platform.exceptions import (
    BackendError,
    PermanentError,
    RetryableError,
    ValidationError,
)
from transcription_platform.providers import ProviderFailure

#: Every ``InvalidAudio`` code and the HTTP status the upload API answers with.
INVALID_AUDIO_STATUS: dict[str, int] = {
    "not_audio": 415,  # no demuxer recognises it (text, zip, random bytes)
    "no_audio_stream": 415,  # a media file without audio (an image, a silent video)
    "empty_file": 400,  # zero bytes
    "empty_audio": 400,  # an audio stream without a single sample (header-only)
    "corrupt_audio": 400,  # audio packets that do not decode
    "invalid_audio_parameters": 400,  # 0 channels, an absurd sample rate
    "chunk_too_large": 400,  # cannot be encoded under the engine's upload limit
    "audio_too_long": 400,  # decodes to more than the limit (whatever the header says)
}


class InvalidAudio(ValidationError):
    """The file is not usable audio; ``code`` says why (see `INVALID_AUDIO_STATUS`)."""

    code = "invalid_audio"
    default_message = "The file is not usable audio."

    def __init__(self, code: str, message: str, *, details: Any = None) -> None:
        super().__init__(
            message, code=code, details=details, status_code=INVALID_AUDIO_STATUS.get(code, 400)
        )


class EngineError(BackendError):
    """A speech engine could not transcribe a clip.

    ``engine`` names the configured engine, ``provider_status`` is the HTTP status the
    provider answered with (when there was one).
    """

    status_code = 502
    code = "engine_error"
    default_message = "The speech engine failed."

    def __init__(self, message: str | None = None, *, engine: str | None = None, **kw: Any):
        kw.setdefault("alias", engine)
        super().__init__(message, **kw)

    @property
    def engine(self) -> str | None:
        """The configured name of the engine (its alias)."""
        return self.alias


class RetryableEngineError(EngineError, RetryableError):
    """Worth retrying later; ``retry_after`` is the server's hint in seconds, if any."""

    status_code = 503
    code = "engine_unavailable"
    default_message = "The speech engine is temporarily unavailable."


class PermanentEngineError(EngineError, PermanentError):
    """Retrying the same request cannot succeed (auth, bad audio, unsupported language)."""

    status_code = 422
    code = "engine_rejected"
    default_message = "The speech engine rejected the audio."


def engine_error(failure: ProviderFailure, engine: str) -> EngineError:
    """A classified provider failure as a retryable or permanent engine error.

    Args:
        failure: What went wrong (see `transcription_platform.providers`).
        engine: The configured name of the engine.

    Returns:
        The error, with this family's code for the failure's kind.
    """
    code = {
        providers.TIMEOUT: "engine_timeout",
        providers.UNREACHABLE: "engine_connection_error",
        providers.RATE_LIMITED: "engine_rate_limited",
        providers.UNAVAILABLE: "engine_unavailable",
        providers.QUOTA_EXCEEDED: "engine_quota_exceeded",
        providers.AUTH_FAILED: "engine_auth_failed",
        providers.NO_API_KEY: "engine_auth_failed",
        providers.NOT_FOUND: "engine_not_found",
        providers.TOO_LARGE: "chunk_too_large",
        providers.CONTEXT_TOO_LONG: "engine_bad_request",
        providers.BAD_REQUEST: "engine_bad_request",
    }.get(failure.kind, "engine_error")
    error = failure.error(
        retryable=RetryableEngineError,
        permanent=PermanentEngineError,
        code=code,
        alias=engine,
        provider="speech provider",
    )
    return cast(EngineError, error)


class ModelIntegrityError(PermanentEngineError):
    """A bundled model's files do not match the checksum we ship with."""

    code = "model_checksum_mismatch"
    default_message = "The speech model's files do not match their published checksum."
