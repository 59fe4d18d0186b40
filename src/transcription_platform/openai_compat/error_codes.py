"""Error codes of the OpenAI-compatible endpoint (the ``code`` of OpenAI's error shape)."""

from enum import StrEnum


class OpenAICompatErrorCode(StrEnum):
    """Stable codes clients can switch on; documented in docs/openai-compatible.md."""

    #: No platform API key or access token, or a wrong one (OpenAI's code for a 401).
    INVALID_API_KEY = "invalid_api_key"
    #: ``model`` is not in ``OPENAI_COMPAT_MODELS`` (or the translation map).
    MODEL_NOT_FOUND = "model_not_found"
    #: No engine configured for translation (``OPENAI_COMPAT_TRANSLATION_MODELS``).
    TRANSLATION_NOT_SUPPORTED = "translation_not_supported"
    #: A form field has a value the endpoint does not accept.
    INVALID_PARAMETER = "invalid_parameter"
    #: The multipart ``file`` field is missing.
    MISSING_FILE = "missing_file"
    #: The transcription did not finish within ``OPENAI_COMPAT_WAIT_SECONDS``.
    TRANSCRIPTION_TIMEOUT = "transcription_timeout"
    #: The transcription failed or was cancelled.
    TRANSCRIPTION_FAILED = "transcription_failed"
