"""One validator per concept, shared by the upload API, the settings API and the CLI.

A language saved in the settings is accepted by every upload, and a prompt that fits
one entry point fits them all: each of them calls these functions.

* Language: an ISO 639 code, optionally with subtags (``en``, ``pt-BR``). ``pt``,
  ``pt-br``, ``PT_br`` … all become one canonical form, BCP 47's casing: language in
  lower case, a region in upper case, a script in title case (``pt-BR``,
  ``zh-Hant-TW``).
* Prompt: at most `MAX_PROMPT_LENGTH` characters.
* Size: an upload of at most ``MAX_UPLOAD_BYTES``.
"""

from __future__ import annotations

import re

from transcription_platform.conf import settings
from transcription_platform.error_codes import PlatformErrorCode
from transcription_platform.exceptions import PayloadTooLarge, ValidationError

MAX_PROMPT_LENGTH = 4000
"""Longest prompt (vocabulary or context for the engine) accepted anywhere."""

MAX_TITLE_LENGTH = 255
"""Longest transcription title."""

_LANGUAGE = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*")

#: `normalize_language`'s rule as a JSON Schema pattern, for the OpenAPI schema of every
#: language input ("" = detect; surrounding spaces are ignored).
LANGUAGE_PATTERN = r"^\s*([A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*)?\s*$"


def normalize_language(value: str | None, *, field: str = "language") -> str:
    """The canonical form of a language code; ``""`` (auto-detect) stays ``""``.

    Args:
        value: What the client sent, e.g. ``"EN"``, ``"pt_br"`` or ``"pt-BR"``.
        field: The field name reported in the error details.

    Returns:
        The code in BCP 47 casing: ``"en"``, ``"pt-BR"``.

    Raises:
        ValidationError: ``invalid_language`` (400) when it is not such a code.
    """
    value = (value or "").strip()
    if not value:
        return ""
    if not _LANGUAGE.fullmatch(value):
        raise ValidationError(
            "Language must be an ISO-639 code such as 'en' or 'pt-BR'.",
            code=PlatformErrorCode.INVALID_LANGUAGE,
            details={"field": field},
        )
    language, *subtags = value.replace("_", "-").split("-")
    return "-".join([language.lower(), *(_subtag_case(tag) for tag in subtags)])


def _subtag_case(tag: str) -> str:
    if len(tag) == 2 and tag.isalpha():
        return tag.upper()  # region: BR
    if len(tag) == 4 and tag.isalpha():
        return tag.title()  # script: Hant
    return tag.lower()


def validate_prompt(value: str | None, *, field: str = "prompt") -> str:
    """The prompt, if it is at most `MAX_PROMPT_LENGTH` characters long.

    Args:
        value: The prompt (None counts as empty).
        field: The field name reported in the error details.

    Returns:
        The prompt unchanged (``""`` for None).

    Raises:
        ValidationError: ``validation_error`` (400) when it is too long.
    """
    value = value or ""
    if len(value) > MAX_PROMPT_LENGTH:
        raise ValidationError(
            f"Prompt is longer than {MAX_PROMPT_LENGTH} characters.",
            details={"field": field, "max_length": MAX_PROMPT_LENGTH},
        )
    return value


def upload_too_large() -> PayloadTooLarge:
    """The 413 for an upload over ``MAX_UPLOAD_BYTES``, wherever it is noticed."""
    limit = settings.MAX_UPLOAD_BYTES
    return PayloadTooLarge(
        f"The file is larger than the {limit} byte limit.", details={"max_bytes": limit}
    )


def check_upload_size(size_bytes: int) -> None:
    """Refuse an upload over ``MAX_UPLOAD_BYTES``.

    Args:
        size_bytes: The size of the uploaded file.

    Raises:
        PayloadTooLarge: The file is larger than the limit (413 ``payload_too_large``).
    """
    if size_bytes > settings.MAX_UPLOAD_BYTES:
        raise upload_too_large()
