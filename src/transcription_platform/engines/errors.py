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
from transcription_platform.engines.error_codes import EngineErrorCode
from transcription_platform.exceptions import (
    BackendError,
    PermanentError,
    RetryableError,
    ValidationError,
)
from transcription_platform.providers import ProviderFailure

#: Every ``InvalidAudio`` code and the HTTP status the upload API answers with.
INVALID_AUDIO_STATUS: dict[str, int] = {
    EngineErrorCode.NOT_AUDIO: 415,  # no demuxer recognises it (text, zip, random bytes)
    EngineErrorCode.NO_AUDIO_STREAM: 415,  # a media file without audio (an image, a silent video)
    EngineErrorCode.EMPTY_FILE: 400,  # zero bytes
    EngineErrorCode.EMPTY_AUDIO: 400,  # an audio stream without a single sample (header-only)
    EngineErrorCode.CORRUPT_AUDIO: 400,  # audio packets that do not decode
    EngineErrorCode.INVALID_AUDIO_PARAMETERS: 400,  # 0 channels, an absurd sample rate
    EngineErrorCode.CHUNK_TOO_LARGE: 400,  # cannot be encoded under the engine's upload limit
    # TranscriptionErrorCode.AUDIO_TOO_LONG (the transcriptions app owns the code).
    "audio_too_long": 400,  # decodes past the limit, whatever the header says
}


class InvalidAudio(ValidationError):
    """The file is not usable audio; ``code`` says why (see `INVALID_AUDIO_STATUS`)."""

    code: str = EngineErrorCode.INVALID_AUDIO
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
    code: str = EngineErrorCode.ENGINE_ERROR
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
    code: str = EngineErrorCode.ENGINE_UNAVAILABLE
    default_message = "The speech engine is temporarily unavailable."


class PermanentEngineError(EngineError, PermanentError):
    """Retrying the same request cannot succeed (auth, bad audio, unsupported language)."""

    status_code = 422
    code: str = EngineErrorCode.ENGINE_REJECTED
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
        providers.TIMEOUT: EngineErrorCode.ENGINE_TIMEOUT,
        providers.UNREACHABLE: EngineErrorCode.ENGINE_CONNECTION_ERROR,
        providers.RATE_LIMITED: EngineErrorCode.ENGINE_RATE_LIMITED,
        providers.UNAVAILABLE: EngineErrorCode.ENGINE_UNAVAILABLE,
        providers.QUOTA_EXCEEDED: EngineErrorCode.ENGINE_QUOTA_EXCEEDED,
        providers.AUTH_FAILED: EngineErrorCode.ENGINE_AUTH_FAILED,
        providers.NO_API_KEY: EngineErrorCode.ENGINE_AUTH_FAILED,
        providers.NOT_FOUND: EngineErrorCode.ENGINE_NOT_FOUND,
        providers.TOO_LARGE: EngineErrorCode.CHUNK_TOO_LARGE,
        providers.CONTEXT_TOO_LONG: EngineErrorCode.ENGINE_BAD_REQUEST,
        providers.BAD_REQUEST: EngineErrorCode.ENGINE_BAD_REQUEST,
    }.get(failure.kind, EngineErrorCode.ENGINE_ERROR)
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

    code: str = EngineErrorCode.MODEL_CHECKSUM_MISMATCH
    default_message = "The speech model's files do not match their published checksum."
