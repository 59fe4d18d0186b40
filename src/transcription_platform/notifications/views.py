"""Server-Sent Events: ``GET /transcriptions/{id}/events`` and ``GET /events``.

Plain async Django views (mounted under the API by ``api_urlpatterns``), marked
`long_lived`: under `transcription_platform.asgi` a stream holds no thread. Its sync
steps (authentication, reading the log) run on the loop's shared pool; while it waits it
is an ``asyncio.Queue`` fed by the process's one listener (`fanout`). Under WSGI the
same views answer with a stream that polls the log on the request's thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from transcription_platform.asgi import long_lived, run_pooled
from transcription_platform.auth import platform_auth
from transcription_platform.conf import settings
from transcription_platform.error_codes import PlatformErrorCode
from transcription_platform.exceptions import (
    AuthenticationFailed,
    TranscriptionPlatformError,
    error_response,
    response_for,
)
from transcription_platform.notifications import fanout, streams
from transcription_platform.notifications.error_codes import NotificationsErrorCode
from transcription_platform.ratelimit import check_rate_limit
from transcription_platform.scopes import Scope, check_scope
from transcription_platform.transcriptions.services import get_transcription_for

#: Sent first: how long a browser waits before reconnecting (milliseconds).
RETRY_MS = 3000
KEEP_ALIVE = b": keep-alive\n\n"


def _authenticate(request: HttpRequest) -> Any:
    """The user of the API's credentials, or of a ``?token=`` stream token."""
    token = request.GET.get("token")
    if token:
        user = streams.user_for_stream_token(token)
        if user is None:
            raise AuthenticationFailed(
                "The stream token is invalid or expired: get a new one from POST /events/token.",
                code=NotificationsErrorCode.INVALID_STREAM_TOKEN.value,
            )
    else:
        user = next(filter(None, (callback(request) for callback in platform_auth)), None)
        if user is None:
            raise AuthenticationFailed()
        check_scope(request, Scope.READ)  # an API key needs the read scope
    request.auth = user  # type: ignore[attr-defined]  # what ninja does; rate limits read it
    check_rate_limit(request, "user", "user")
    return user


def _last_event_id(request: HttpRequest) -> int | None:
    raw = request.headers.get("Last-Event-ID", "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


def _method_not_allowed(request: HttpRequest) -> HttpResponse:
    return error_response(
        405,
        PlatformErrorCode.METHOD_NOT_ALLOWED,
        f"Method {request.method} is not allowed here.",
        {"allowed": ["GET"]},
        {"Allow": "GET"},
    )


def _event_stream(events: Any) -> StreamingHttpResponse:
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: send each event as it comes
    return response


def _job_owner(user: Any, pk: str) -> Any:
    return get_transcription_for(user, pk)


@csrf_exempt
@long_lived
async def transcription_events(request: HttpRequest, pk: str) -> HttpResponseBase:
    """``GET /transcriptions/{id}/events``: one job's events until its terminal event.

    Args:
        request: A GET with API credentials or ``?token=``; ``Last-Event-ID`` resumes.
        pk: The transcription id.

    Returns:
        A ``text/event-stream``, or a JSON error (401, 404, 429, 503).
    """
    if request.method != "GET":
        return _method_not_allowed(request)
    try:
        user = await run_pooled(_authenticate, request)
        transcription = await run_pooled(_job_owner, user, pk)
    except TranscriptionPlatformError as exc:
        return response_for(exc)
    last_id = _last_event_id(request)
    if not isinstance(request, ASGIRequest):
        return _event_stream(_poll_job(transcription, last_id))
    return _event_stream(_job_stream(transcription, last_id))


@csrf_exempt
@long_lived
async def user_events(request: HttpRequest) -> HttpResponseBase:
    """``GET /events``: every job event of the user, for as long as the client stays.

    Args:
        request: A GET with API credentials or ``?token=``; ``Last-Event-ID`` resumes.

    Returns:
        A ``text/event-stream``, or a JSON error (401, 429, 503).
    """
    if request.method != "GET":
        return _method_not_allowed(request)
    try:
        user = await run_pooled(_authenticate, request)
    except TranscriptionPlatformError as exc:
        return response_for(exc)
    last_id = _last_event_id(request)
    if not isinstance(request, ASGIRequest):
        return _event_stream(_poll_user(user.pk, last_id))
    return _event_stream(_user_stream(user.pk, last_id))


# --------------------------------------------------------------------------- ASGI


class _Cursor:
    """What a stream has sent so far: the last id of its user's events it accounted for."""

    def __init__(self, last: int, transcription_id: str | None) -> None:
        self.last = last
        self.transcription_id = transcription_id

    def accept(self, events: list[streams.Event]) -> list[streams.Event]:
        """The events this stream sends next (new, in order, of its job if it has one)."""
        sent = []
        for event in sorted(events, key=lambda e: e.event_id):
            if event.event_id <= self.last:
                continue  # sent already, or older than where the stream started
            self.last = event.event_id
            if self.transcription_id is None or event.transcription_id == self.transcription_id:
                sent.append(event)
        return sent


async def _follow(
    subscription: fanout.Subscription, cursor: _Cursor, transcription_id: Any
) -> AsyncIterator[bytes]:
    """Live events after ``cursor``; keep-alive comments while nothing happens."""
    keep_alive = settings.EVENTS_KEEPALIVE_SECONDS
    while True:
        try:
            item = await asyncio.wait_for(subscription.queue.get(), keep_alive)
        except TimeoutError:
            yield KEEP_ALIVE
            continue
        if item is fanout.RESYNC or item.event_id > cursor.last + 1:
            # Something may have been missed (a gap in the ids): read the log, every
            # job's events, so the cursor moves past the other jobs' too.
            events = await run_pooled(streams.events_after, subscription.owner_id, cursor.last)
            if item is not fanout.RESYNC:
                events.append(item)
        else:
            events = [item]
        for event in cursor.accept(events):
            yield event.encode()
            if event.terminal and transcription_id is not None:
                return


async def _job_stream(transcription: Any, last_id: int | None) -> AsyncIterator[bytes]:
    async with fanout.subscribed(transcription.owner_id) as subscription:
        backlog, current = await run_pooled(streams.open_job_stream, transcription, last_id)
        yield f"retry: {RETRY_MS}\n\n".encode()
        for event in backlog:
            yield event.encode()
            if event.terminal:
                return
        cursor = _Cursor(current, str(transcription.pk))
        async for chunk in _follow(subscription, cursor, transcription.pk):
            yield chunk


async def _user_stream(owner_id: int, last_id: int | None) -> AsyncIterator[bytes]:
    async with fanout.subscribed(owner_id) as subscription:
        backlog, current = await run_pooled(streams.open_user_stream, owner_id, last_id)
        yield f"retry: {RETRY_MS}\n\n".encode()
        for event in backlog:
            yield event.encode()
        async for chunk in _follow(subscription, _Cursor(current, None), None):
            yield chunk


# --------------------------------------------------------------------------- WSGI


def _poll_log(
    owner_id: int, cursor: _Cursor, transcription_id: Any, deadline: float | None = None
) -> Iterator[bytes]:
    """Under WSGI: read the log every ``EVENTS_POLL_SECONDS`` on the request's thread."""
    quiet_since = time.monotonic()
    while deadline is None or time.monotonic() < deadline:
        events = cursor.accept(streams.events_after(owner_id, cursor.last, transcription_id))
        for event in events:
            yield event.encode()
            if event.terminal and transcription_id is not None:
                return
        if events:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= settings.EVENTS_KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield KEEP_ALIVE
        time.sleep(settings.EVENTS_POLL_SECONDS)


def _poll_job(transcription: Any, last_id: int | None) -> Iterator[bytes]:
    backlog, current = streams.open_job_stream(transcription, last_id)
    yield f"retry: {RETRY_MS}\n\n".encode()
    for event in backlog:
        yield event.encode()
        if event.terminal:
            return
    cursor = _Cursor(current, str(transcription.pk))
    yield from _poll_log(transcription.owner_id, cursor, transcription.pk)


def _poll_user(owner_id: int, last_id: int | None) -> Iterator[bytes]:
    backlog, current = streams.open_user_stream(owner_id, last_id)
    yield f"retry: {RETRY_MS}\n\n".encode()
    for event in backlog:
        yield event.encode()
    yield from _poll_log(owner_id, _Cursor(current, None), None)
