"""Rate limits counted by django-ratelimit, answered with 429 + ``Retry-After``.

Rates come from ``TRANSCRIPTION_PLATFORM["RATE_LIMITS"]`` (scope → "N/period"; ``None``
disables a scope). Hits are counted in django-ratelimit's cache (``RATELIMIT_USE_CACHE``,
"default" unless set) — use a cache shared by all web processes in production.

Every API operation gets the ``anon`` (per IP) or ``user`` (per user) limit through
`default_rate_limit`; sensitive operations add their own scope with
`rate_limit`. An operation with its own per-IP scope (login, registration, token
refresh) is not also counted against ``anon``, so one busy office behind a NAT cannot
exhaust the shared anonymous budget by signing in; operations marked
`rate_limit_exempt` (health) are never limited.

Failure policy: when the rate-limit cache cannot be used (server down, client library
missing) the limit *fails open*: the request goes through and an error is logged. The
health endpoint reports the cache as unhealthy (503) and ``startup_checks`` refuses to
start, so the outage is visible without turning every request into a 500.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from django.conf import settings as django_settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest
from django_ratelimit import ALL
from django_ratelimit.core import EXPIRATION_FUDGE as _EXPIRATION_FUDGE
from django_ratelimit.core import _get_window, _make_cache_key, _split_rate

from transcription_platform.conf import settings
from transcription_platform.exceptions import RateLimited

KeyKind = Literal["ip", "user", "user_or_ip"]

logger = logging.getLogger("transcription_platform.ratelimit")

# Attributes set on a decorated operation; functools.wraps copies them outward, so the
# API-wide decorator (applied last, outermost) sees them.
_EXEMPT_ATTR = "_tp_rate_limit_exempt"
_IP_SCOPES_ATTR = "_tp_rate_limit_ip_scopes"


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


def check_rate_limit(
    request: HttpRequest, scope: str, kind: KeyKind = "user_or_ip", key: str | None = None
) -> None:
    """Count one hit of ``scope`` for this caller.

    Args:
        request: The current request.
        scope: Key of ``RATE_LIMITS`` holding the rate (``None`` there: no limit).
        kind: Whom to count when ``key`` is not given.
        key: An explicit counter key (e.g. the login name being tried).

    Raises:
        RateLimited: The caller is over the rate (429 with ``Retry-After``).
    """
    rate = settings.RATE_LIMITS.get(scope)
    if not rate:
        return
    key_value = key if key is not None else _key_for(request, kind)
    try:
        usage = _count_hit(f"transcription_platform:{scope}", key_value, rate)
    except Exception:
        # Fail open (see the module docstring): an unusable cache must not turn every
        # request into a 500; health and startup_checks report the outage instead.
        logger.exception("Rate limit %r not enforced: the rate-limit cache failed", scope)
        return
    if usage is not None and usage["should_limit"]:
        raise RateLimited(
            f"Rate limit exceeded for {scope!r} ({rate}). Retry later.",
            retry_after=usage["time_left"],
        )


def _count_hit(group: str, key_value: str, rate: str) -> dict[str, Any] | None:
    """Count one hit in django-ratelimit's window and key; its ``get_usage`` answer.

    django-ratelimit's ``get_usage`` costs three round trips on Redis (``add``, then
    Django's ``incr``, itself ``EXISTS`` + ``INCRBY``). On a Redis cache this sends
    ``INCR`` + ``EXPIREAT`` (to the window's end, so repeating it changes nothing) in
    one pipeline; other caches keep ``add`` + ``incr``. Same keys, windows and answer
    as django-ratelimit, so its settings (``RATELIMIT_USE_CACHE``, ``_CACHE_PREFIX``,
    ``_FAIL_OPEN``) keep their meaning.
    """
    limit, period = _split_rate(rate)
    window = _get_window(key_value, period)
    cache = caches[getattr(django_settings, "RATELIMIT_USE_CACHE", "default")]
    cache_key = _make_cache_key(group, window, rate, key_value, ALL)
    count: int | None
    client = _redis_client(cache, cache_key)
    if client is not None:
        redis_key = cache.make_and_validate_key(cache_key)
        pipeline = client.pipeline(transaction=False)
        pipeline.incr(redis_key)
        pipeline.expireat(redis_key, window + _EXPIRATION_FUDGE)
        count = int(pipeline.execute()[0])
    elif cache.add(cache_key, 1, period + _EXPIRATION_FUDGE):
        count = 1
    else:
        try:
            count = cache.incr(cache_key)
        except ValueError:  # expired between add and incr
            count = None
    if count is None:
        if getattr(django_settings, "RATELIMIT_FAIL_OPEN", False):
            return None
        return {"count": 0, "limit": 0, "should_limit": True, "time_left": -1}
    return {
        "count": count,
        "limit": limit,
        "should_limit": count > limit,
        "time_left": window - int(time.time()),
    }


def _redis_client(cache: BaseCache, key: str) -> Any:
    """The redis-py client behind Django's ``RedisCache``, or None for any other cache."""
    if not isinstance(cache, RedisCache):
        return None
    return cache._cache.get_client(key, write=True)


def rate_limit(
    scope: str, kind: KeyKind = "user_or_ip"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a ninja operation with an extra limit (e.g. ``rate_limit("login", "ip")``).

    Args:
        scope: Key of ``RATE_LIMITS`` holding the rate.
        kind: Whom to count: ``"ip"``, ``"user"`` or ``"user_or_ip"``.

    Returns:
        The decorator. An operation with a per-IP scope is not also counted against the
        anonymous limit.
    """

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            check_rate_limit(request, scope, kind)
            return view(request, *args, **kwargs)

        if kind != "user":
            scopes = (*getattr(view, _IP_SCOPES_ATTR, ()), scope)
            setattr(wrapper, _IP_SCOPES_ATTR, scopes)
        return wrapper

    return decorator


def rate_limit_exempt(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an operation that no rate limit applies to (health probes).

    Args:
        view: The ninja operation.

    Returns:
        The same function, marked.
    """
    setattr(view, _EXEMPT_ATTR, True)
    return view


def default_rate_limit(view: Callable[..., Any]) -> Callable[..., Any]:
    """The site-wide limit: ``user`` for authenticated callers, ``anon`` per IP otherwise.

    Args:
        view: A ninja operation (applied to all of them with ``api.add_decorator``).

    Returns:
        The wrapped operation; exempt operations are returned unchanged, and operations
        with their own per-IP scope skip ``anon``.
    """
    if getattr(view, _EXEMPT_ATTR, False):
        return view
    own_ip_scope = bool(getattr(view, _IP_SCOPES_ATTR, ()))

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if _authenticated_user(request) is not None:
            check_rate_limit(request, "user")
        elif not own_ip_scope:
            check_rate_limit(request, "anon")
        return view(request, *args, **kwargs)

    return wrapper
