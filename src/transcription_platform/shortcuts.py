"""One owner-scoped lookup for every app: the row, or the API's 404."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet

from transcription_platform.error_codes import PlatformErrorCode
from transcription_platform.exceptions import NotFound

ModelT = TypeVar("ModelT", bound=Model)


def get_or_not_found(
    queryset: QuerySet[ModelT],
    message: str,
    *,
    code: str = PlatformErrorCode.NOT_FOUND,
    **lookup: Any,
) -> ModelT:
    """The row of ``queryset`` that matches ``lookup``, or `NotFound` (404).

    Pass a queryset already narrowed to what the caller may see (``owner=user``,
    `transcription_platform.roles.visible_to`): a missing row, a malformed id and
    another user's row then all get the same 404, never a 403 that would tell that
    the row exists.

    Args:
        queryset: The rows the caller may see.
        message: What the 404 says (``"Webhook endpoint not found."``).
        code: The ``error.code`` of the 404.
        **lookup: Field lookups naming one row (``pk=...``).

    Returns:
        The row.

    Raises:
        NotFound: No visible row matches, or the id is not a valid value for its field.
    """
    try:
        return queryset.get(**lookup)
    except (ObjectDoesNotExist, ValueError, DjangoValidationError):
        raise NotFound(message, code=code) from None
