"""Rate limits counted by django-ratelimit, answered with 429 + ``Retry-After``.

Rates come from ``TRANSCRIPTION_PLATFORM["RATE_LIMITS"]`` (scope → "N/period"; ``None``
disables a scope). Hits are counted in django-ratelimit's cache (``RATELIMIT_USE_CACHE``,
"default" unless set) — use a cache shared by all web processes in production.

Every API operation gets the ``anon`` (per IP) or ``user`` (per user) limit through
:func:`default_rate_limit`; sensitive operations add their own scope with
:func:`rate_limit`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

from django.http import HttpRequest
from django_ratelimit import ALL
from django_ratelimit.core import get_usage

from transcription_platform.conf import settings
from transcription_platform.exceptions import RateLimited

KeyKind = Literal["ip", "user", "user_or_ip"]


def _authenticated_user(request: HttpRequest) -> Any:
    # ninja puts the authenticated principal on request.auth; fall back to the session user.
    user = getattr(request, "auth", None)
    if user is None or not getattr(user, "is_authenticated", False):
        user = getattr(request, "user", None)
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _key_for(request: HttpRequest, kind: KeyKind) -> str:
    user = _authenticated_user(request) if kind != "ip" else None
    if user is not None:
        return f"user:{user.pk}"
    if kind == "user":
        raise ValueError("A per-user rate limit needs an authenticated request.")
    return f"ip:{client_ip(request)}"


def client_ip(request: HttpRequest) -> str:
    """The client address django-ratelimit would use (honours RATELIMIT_IP_META_KEY)."""
    from django_ratelimit.core import _get_ip

    return str(_get_ip(request))


def check_rate_limit(request: HttpRequest, scope: str, kind: KeyKind = "user_or_ip") -> None:
    """Count one hit of ``scope`` for this caller; raise :class:`RateLimited` over the rate."""
    rate = settings.RATE_LIMITS.get(scope)
    if not rate:
        return
    key_value = _key_for(request, kind)
    usage = get_usage(
        request,
        group=f"transcription_platform:{scope}",
        key=lambda group, req: key_value,
        rate=rate,
        method=ALL,
        increment=True,
    )
    if usage is not None and usage["should_limit"]:
        raise RateLimited(
            f"Rate limit exceeded for {scope!r} ({rate}). Retry later.",
            retry_after=usage["time_left"],
        )


def rate_limit(scope: str, kind: KeyKind = "user_or_ip") -> Callable:
    """Decorate a ninja operation with an extra limit (e.g. ``rate_limit("login", "ip")``)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            check_rate_limit(request, scope, kind)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def default_rate_limit(view: Callable) -> Callable:
    """The site-wide limit: ``user`` for authenticated callers, ``anon`` per IP otherwise."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        scope = "user" if _authenticated_user(request) is not None else "anon"
        check_rate_limit(request, scope)
        return view(request, *args, **kwargs)

    return wrapper
