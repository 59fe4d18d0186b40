"""Error codes of the engines package (see `transcription_platform.error_codes`).

``InvalidAudio`` codes say why an upload is not usable audio; the ``engine_*`` codes
say why a speech engine could not transcribe it (a job fails with one of them).
"""

from __future__ import annotations

from enum import StrEnum


class EngineErrorCode(StrEnum):
    # InvalidAudio: the upload (400, or 415 when it is not audio at all).
    INVALID_AUDIO = "invalid_audio"
    NOT_AUDIO = "not_audio"
    NO_AUDIO_STREAM = "no_audio_stream"
    EMPTY_FILE = "empty_file"
    EMPTY_AUDIO = "empty_audio"
    CORRUPT_AUDIO = "corrupt_audio"
    INVALID_AUDIO_PARAMETERS = "invalid_audio_parameters"
    CHUNK_TOO_LARGE = "chunk_too_large"
    # The engine.
    ENGINE_ERROR = "engine_error"
    ENGINE_FAILED = "engine_failed"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    ENGINE_REJECTED = "engine_rejected"
    ENGINE_TIMEOUT = "engine_timeout"
    ENGINE_CONNECTION_ERROR = "engine_connection_error"
    ENGINE_RATE_LIMITED = "engine_rate_limited"
    ENGINE_QUOTA_EXCEEDED = "engine_quota_exceeded"
    ENGINE_AUTH_FAILED = "engine_auth_failed"
    ENGINE_NOT_FOUND = "engine_not_found"
    ENGINE_BAD_REQUEST = "engine_bad_request"
    ENGINE_MODEL_UNAVAILABLE = "engine_model_unavailable"
    MODEL_CHECKSUM_MISMATCH = "model_checksum_mismatch"
