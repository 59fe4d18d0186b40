"""The platform's ASGI application: Django's, minus a thread per long-lived request.

Django's `ASGIHandler` runs every request inside an asgiref ``ThreadSensitiveContext``:
the first sync step of the request (the ``request_started`` receivers, any sync
middleware) gets a thread of its own, kept until the response ends. For a request that
waits for minutes (a Server-Sent Events stream, the OpenAI-compatible endpoint waiting
for its transcription) that is one idle thread per waiting client.

Views marked with `long_lived` are served without that context: their few sync steps
share asgiref's single thread-sensitive thread, and what they wait for is awaited on the
event loop. Every other request is served exactly as Django serves it. A site uses it in
its ``asgi.py``::

    from transcription_platform.asgi import get_asgi_application

    application = get_asgi_application()
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections
from django.urls import Resolver404, get_resolver, get_urlconf, set_urlconf

ViewT = TypeVar("ViewT", bound=Callable[..., Any])

#: The attribute `long_lived` sets on a view function.
LONG_LIVED_ATTRIBUTE = "transcription_platform_long_lived"


def long_lived(view: ViewT) -> ViewT:
    """Mark an async view whose response can take minutes (a wait, a stream).

    Args:
        view: An ``async def`` view; it must do its sync work through
            ``sync_to_async(..., thread_sensitive=False)`` (a shared pool), never hold a
            thread while it waits.

    Returns:
        The same view, marked for `PlatformASGIHandler`.
    """
    setattr(view, LONG_LIVED_ATTRIBUTE, True)
    return view


def is_long_lived(path: str) -> bool:
    """Whether ``path`` resolves to a view marked `long_lived`.

    Args:
        path: The request's ``path_info``.

    Returns:
        True for a long-lived view; False for any other (or no) view.
    """
    set_urlconf(None)  # the default URLconf; a middleware may switch it per request later
    try:
        match = get_resolver(get_urlconf()).resolve(path)
    except Resolver404:
        return False
    return bool(getattr(match.func, LONG_LIVED_ATTRIBUTE, False))


class PlatformASGIHandler(ASGIHandler):
    """`ASGIHandler` that serves `long_lived` views without a thread per request."""

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[Mapping[str, Any]]],
        send: Callable[[Mapping[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http" and is_long_lived(self._path_info(scope)):
            await self.handle(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    @staticmethod
    def _path_info(scope: Mapping[str, Any]) -> str:
        path: str = scope.get("path", "")
        root = scope.get("root_path", "")
        return path.removeprefix(root) if root and path.startswith(root) else path


async def run_pooled(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` on the event loop's shared thread pool, then give back the
    database connection that thread opened (as the end of a request would).

    For the sync steps of `long_lived` views: ``thread_sensitive=True`` would need a
    thread per request; the pool is bounded (``min(32, cores + 4)`` threads).

    Args:
        func: A synchronous callable (it may use the ORM).
        *args: Its arguments.

    Returns:
        What ``func`` returns.
    """

    def pooled() -> Any:
        try:
            return func(*args)
        finally:
            close_old_connections()

    return await sync_to_async(pooled, thread_sensitive=False)()


def get_asgi_application() -> PlatformASGIHandler:
    """Set up Django and return the platform's ASGI application.

    Returns:
        A `PlatformASGIHandler`.
    """
    django.setup(set_prefix=False)
    return PlatformASGIHandler()
