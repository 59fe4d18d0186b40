"""Files served with byte ranges (RFC 9110 §14), so a client can seek or resume.

Chromium and Safari refuse to seek in audio served without ``Accept-Ranges``/206 (the
position snaps back to 0), a download manager cannot resume, and Django's
``FileResponse`` answers every request whole. One function serves both the API's
``GET /transcriptions/{id}/audio`` and the web pages' player.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from transcription_platform.exceptions import RangeNotSatisfiable, response_for

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
BLOCK = 64 * 1024


def _read(handle: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        while length > 0:
            block = handle.read(min(BLOCK, length))
            if not block:
                break
            length -= len(block)
            yield block
    finally:
        handle.close()


def _wanted(request: HttpRequest, size: int) -> tuple[int, int] | None:
    """The one byte range asked for, ``None`` for the whole file.

    Raises:
        RangeNotSatisfiable: The range starts past the end of the file.
    """
    header = request.headers.get("Range")
    # No validator is sent (no ETag, no Last-Modified), so an If-Range can never be
    # known to match: RFC 9110 §13.1.5 says to send the whole representation then.
    if not header or "If-Range" in request.headers:
        return None
    match = RANGE.match(header.strip())
    # Several ranges, another unit or a malformed header: the whole file, as RFC 9110
    # §14.2 allows ("a server MAY ignore the Range header field").
    if not match or not (match[1] or match[2]):
        return None
    if match[1]:
        start = int(match[1])
        end = min(int(match[2]), size - 1) if match[2] else size - 1
        if start > end and match[2] and int(match[2]) < start:
            return None  # "bytes=9-3" is invalid, not unsatisfiable: ignored
    else:  # a suffix: the last N bytes ("bytes=-0" asks for none)
        if int(match[2]) == 0:
            raise RangeNotSatisfiable(size)
        start, end = max(0, size - int(match[2])), size - 1
    if start >= size:
        raise RangeNotSatisfiable(size)
    return start, end


def ranged_response(
    request: HttpRequest,
    handle: IO[bytes],
    size: int,
    content_type: str,
    *,
    filename: str | None = None,
) -> HttpResponseBase:
    """The whole file (200) or the one byte range the request asks for (206).

    Args:
        request: The request; its ``Range`` (and ``If-Range``) header is read.
        handle: The open file; closed once the response is read (or at once on a 416).
        size: Its size in bytes.
        content_type: The media type to serve.
        filename: Served as an attachment of this name when given (``Content-Disposition``).

    Returns:
        The response, with ``Accept-Ranges: bytes`` and ``X-Content-Type-Options:
        nosniff`` (uploaded bytes: a browser must not sniff them into HTML or script).
        A range starting past the end is answered 416 ``range_not_satisfiable`` (the
        error shape) with ``Content-Range: bytes */<size>``.
    """
    try:
        wanted = _wanted(request, size)
    except RangeNotSatisfiable as exc:
        handle.close()
        error = response_for(exc)
        error["Content-Range"] = f"bytes */{size}"
        return error
    response: HttpResponseBase
    if wanted is None:
        # Whole: FileResponse hands the file to the server's sendfile where it has one.
        response = FileResponse(handle, content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        start, end = wanted
        response = StreamingHttpResponse(
            _read(handle, start, end - start + 1), status=206, content_type=content_type
        )
        response["Content-Length"] = str(end - start + 1)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["X-Content-Type-Options"] = "nosniff"
    if filename is not None:
        disposition = content_disposition_header(True, filename)
        if disposition:
            response["Content-Disposition"] = disposition
    return response
