"""Audio served with byte ranges, so a browser's ``<audio>`` can seek.

Chromium and Safari refuse to seek in a response without ``Accept-Ranges``/206 (the
position snaps back to 0), and Django's ``FileResponse`` answers every request whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from django.http import HttpResponse, StreamingHttpResponse

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


def ranged_response(
    handle: IO[bytes], size: int, content_type: str, range_header: str | None
) -> HttpResponse | StreamingHttpResponse:
    """The whole file (200) or the one byte range asked for (206, or 416 if unsatisfiable).

    Args:
        handle: The open file; closed once the response is read (or at once on a 416).
        size: Its size in bytes.
        content_type: The media type to serve.
        range_header: The request's ``Range`` header, if any. Several ranges, or a
            malformed header, get the whole file, as RFC 9110 allows.

    Returns:
        The response, with ``Accept-Ranges: bytes``.
    """
    start, end = 0, size - 1
    status = 200
    match = RANGE.match((range_header or "").strip())
    if match and (match[1] or match[2]):
        if match[1]:
            start = int(match[1])
            end = min(int(match[2]), size - 1) if match[2] else size - 1
        else:  # a suffix: the last N bytes
            start = max(0, size - int(match[2]))
        if start >= size or start > end:
            handle.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        status = 206
    length = end - start + 1
    streamed = StreamingHttpResponse(
        _read(handle, start, length), status=status, content_type=content_type
    )
    streamed["Content-Length"] = str(length)
    streamed["Accept-Ranges"] = "bytes"
    if status == 206:
        streamed["Content-Range"] = f"bytes {start}-{end}/{size}"
    return streamed
