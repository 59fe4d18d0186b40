"""Multipart audio uploads, streamed to disk with the size limit enforced as they arrive.

Used by the REST upload (``POST /transcriptions/``) and the OpenAI-compatible endpoint,
so both refuse a body by its declared length before reading a byte of it, never hold
an upload in memory, and stop reading at ``MAX_UPLOAD_BYTES`` (413, the same error as
`transcription_platform.validators.check_upload_size`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest

from transcription_platform.conf import settings
from transcription_platform.validators import upload_too_large

logger = logging.getLogger("transcription_platform.uploads")

#: Multipart framing and the small form fields around the file.
MULTIPART_OVERHEAD = 64 * 1024

#: Set on the request by the upload handler (django's HttpRequest has no such attribute).
_TOO_LARGE_FLAG = "_tp_upload_too_large"


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    """Streams every upload to a temporary file and stops past ``MAX_UPLOAD_BYTES``.

    Args:
        request: The request being read.
        disk_error: Makes the error to raise when the temporary file cannot be written
            (a full or missing temporary directory), instead of the ``OSError``.
    """

    def __init__(
        self, request: HttpRequest, disk_error: Callable[[], Exception] | None = None
    ) -> None:
        super().__init__(request)
        self.disk_error = disk_error

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > settings.MAX_UPLOAD_BYTES:
            if self.request is not None:
                setattr(self.request, _TOO_LARGE_FLAG, True)
            raise StopUpload(connection_reset=False)
        try:
            return super().receive_data_chunk(raw_data, start)
        except OSError as exc:
            if self.disk_error is None:
                raise
            # An outage of this machine's disk, not a bad request.
            logger.error("Could not spool an upload to a temporary file: %s", exc)
            raise self.disk_error() from exc


def declared_length(request: HttpRequest) -> int:
    """The body length the client declared (``Content-Length``; 0 when absent or bad)."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def stream_uploads_to_disk(
    request: HttpRequest, *, disk_error: Callable[[], Exception] | None = None
) -> None:
    """Refuse a body declared too large; make the rest stream to disk within the limit.

    Call it before reading ``request.POST`` or ``request.FILES``.

    Args:
        request: The multipart request.
        disk_error: See `SizeLimitedUploadHandler`.

    Raises:
        PayloadTooLarge: The declared body exceeds the limit plus multipart framing.
    """
    if declared_length(request) > settings.MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD:
        raise upload_too_large()
    request.upload_handlers = [SizeLimitedUploadHandler(request, disk_error)]


def stopped_too_large(request: HttpRequest) -> bool:
    """Whether the handler stopped reading an upload of ``request`` at the size limit."""
    return bool(getattr(request, _TOO_LARGE_FLAG, False))
