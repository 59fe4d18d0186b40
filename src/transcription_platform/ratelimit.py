"""Rate limits counted by django-ratelimit, answered with 429 + ``Retry-After``.

Rates come from ``TRANSCRIPTION_PLATFORM["RATE_LIMITS"]`` (scope → "N/period"; ``None``
disables a scope). Hits are counted in django-ratelimit's cache (``RATELIMIT_USE_CACHE``,
"default" unless set) — use a cache shared by all web processes in production.

Every API operation gets the ``anon`` (per IP) or ``user`` (per user) limit through
`PlatformRateLimit`; sensitive operations add their own scope with `rate_limit`. An
operation with its own per-IP scope (login, registration, token refresh) is not also
counted against ``anon``, so one busy office behind a NAT cannot exhaust the shared
anonymous budget by signing in; operations marked `rate_limit_exempt` (health) are
never limited.

When: limits are ninja throttles, which run right after authentication and *before*
the operation's parameters are read. An over-limit caller is answered 429 before a
byte of its body (a 60 MB upload) is read or parsed.

Failed authentication: every wrong API key (and engine callback token) counts against
``auth_failure`` per client IP (`refuse_failing_client`); over it, credentials from that
address are refused with 429 before they are looked up, so guessing is slow and the
audit log gets a bounded number of ``login_failed`` rows.

Failure policy: when the rate-limit cache cannot be used (server down, client library
missing) the limit *fails open*: the request goes through and an error is logged. The
health endpoint reports the cache as unhealthy (503) and ``startup_checks`` refuses to
start, so the outage is visible without turning every request into a 500.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from django.conf import settings as django_settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.http import HttpRequest
from django_ratelimit import ALL
from django_ratelimit.core import EXPIRATION_FUDGE as _EXPIRATION_FUDGE
from django_ratelimit.core import _get_window, _make_cache_key, _split_rate
from ninja.throttling import BaseThrottle
from ninja.utils import contribute_operation_callback

from transcription_platform.conf import settings
from transcription_platform.exceptions import RATE_LIMITED_ATTR, RateLimited

KeyKind = Literal["ip", "user", "user_or_ip"]

logger = logging.getLogger("transcription_platform.ratelimit")


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
    request: HttpRequest,
    scope: str,
    kind: KeyKind = "user_or_ip",
    key: str | None = None,
    *,
    increment: bool = True,
) -> None:
    """Count one hit of ``scope`` for this caller.

    Args:
        request: The current request.
        scope: Key of ``RATE_LIMITS`` holding the rate (``None`` there: no limit).
        kind: Whom to count when ``key`` is not given.
        key: An explicit counter key (e.g. the login name being tried).
        increment: False to only check, without counting, that one more hit would
            still be within the rate.

    Raises:
        RateLimited: The caller is over the rate (429 with ``Retry-After``).
    """
    rate = settings.RATE_LIMITS.get(scope)
    if not rate:
        return
    key_value = key if key is not None else _key_for(request, kind)
    try:
        group = f"transcription_platform:{scope}"
        if increment:
            usage = _count_hit(group, key_value, rate)
        else:
            usage = _read_hits(group, key_value, rate)
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


def _read_hits(group: str, key_value: str, rate: str) -> dict[str, Any]:
    """Whether one more hit would be over the rate, without counting it.

    A plain read (``GET`` on Redis, no write) of the key `_count_hit` increments; a
    missing key is no hit yet. Django's ``RedisCache`` stores integers unpickled, so
    the counter written by the pipelined ``INCR`` reads back as an int. ``should_limit``
    once the count has reached the limit: the next hit would be past it.
    """
    limit, period = _split_rate(rate)
    window = _get_window(key_value, period)
    cache = caches[getattr(django_settings, "RATELIMIT_USE_CACHE", "default")]
    count = int(cache.get(_make_cache_key(group, window, rate, key_value, ALL), 0))
    return {
        "count": count,
        "limit": limit,
        "should_limit": count >= limit,
        "time_left": window - int(time.time()),
    }


#: Attribute of Django's ``RedisCacheClient`` holding (its write pool, a client on it).
_WRITER_ATTR = "_tp_rate_limit_writer"


def _redis_client(cache: BaseCache, key: str) -> Any:
    """The redis-py client behind Django's ``RedisCache``, or None for any other cache.

    Django's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` on every call,
    and redis-py fills a table of about 200 response callbacks in each one: a third of
    a millisecond per request, more than the round trip it prepares. The client is
    kept on the cache's own client object (per thread, as Django's caches are) for as
    long as its write pool is the same; a ``get_client`` a site overrides (sharding
    by key) is called every time.
    """
    if not isinstance(cache, RedisCache):
        return None
    backend: Any = cache._cache  # django-stubs leave out the client's private helpers
    if type(backend).get_client is not RedisCacheClient.get_client:
        return backend.get_client(key, write=True)
    pool = backend._get_connection_pool(True)
    held = backend.__dict__.get(_WRITER_ATTR)
    if held is None or held[0] is not pool:
        held = (pool, backend._client(connection_pool=pool))
        backend.__dict__[_WRITER_ATTR] = held
    return held[1]


class PlatformRateLimit(BaseThrottle):
    """The limits of one operation, as a ninja throttle (checked before its body is read).

    ``user`` for an authenticated caller, ``anon`` per IP otherwise (unless the
    operation has a per-IP scope of its own), then the operation's own scopes.

    Args:
        scopes: ``(scope, kind)`` pairs added by `rate_limit`.
        exempt: No limit at all (`rate_limit_exempt`).
    """

    def __init__(self, scopes: tuple[tuple[str, KeyKind], ...] = (), *, exempt: bool = False):
        self.scopes = scopes
        self.exempt = exempt

    def allow_request(self, request: HttpRequest) -> bool:
        if self.exempt:
            return True
        try:
            if _authenticated_user(request) is not None:
                check_rate_limit(request, "user")
            elif not any(kind != "user" for _, kind in self.scopes):
                check_rate_limit(request, "anon")
            for scope, kind in self.scopes:
                check_rate_limit(request, scope, kind)
        except RateLimited as exc:
            # ninja answers a refused throttle itself; the handler of its Throttled
            # error reads this to keep our message and the scope's Retry-After.
            setattr(request, RATE_LIMITED_ATTR, exc)
            return False
        return True

    def wait(self) -> float | None:
        return None  # the handler sets Retry-After from the RateLimited kept on the request


def _operation_rate_limit(operation: Any) -> PlatformRateLimit:
    """The operation's own `PlatformRateLimit`, created on first use.

    Setting ``throttle_param`` keeps ninja from replacing it with the API-wide one.
    """
    for throttle in operation.throttle_objects:
        if isinstance(throttle, PlatformRateLimit):
            return throttle
    throttle = PlatformRateLimit()
    operation.throttle_objects = [*operation.throttle_objects, throttle]
    operation.throttle_param = operation.throttle_objects
    return throttle


def rate_limit(
    scope: str, kind: KeyKind = "user_or_ip"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a ninja operation an extra limit (e.g. ``rate_limit("login", "ip")``).

    Place it below the ``@router.<method>`` line; it is checked with the operation's
    other limits, after authentication and before the request body is read.

    Args:
        scope: Key of ``RATE_LIMITS`` holding the rate.
        kind: Whom to count: ``"ip"``, ``"user"`` or ``"user_or_ip"``.

    Returns:
        The decorator. An operation with a per-IP scope is not also counted against the
        anonymous limit.
    """

    def add_scope(operation: Any) -> None:
        throttle = _operation_rate_limit(operation)
        throttle.scopes = ((scope, kind), *throttle.scopes)

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        contribute_operation_callback(view, add_scope)
        return view

    return decorator


def rate_limit_exempt(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an operation that no rate limit applies to (health probes).

    Args:
        view: The ninja operation.

    Returns:
        The same function, marked.
    """

    def exempt(operation: Any) -> None:
        _operation_rate_limit(operation).exempt = True

    contribute_operation_callback(view, exempt)
    return view


def refuse_failing_client(request: HttpRequest) -> None:
    """Refuse a client IP that sent too many wrong credentials (``auth_failure``).

    Called before a credential is checked, so an address over the limit costs no
    database lookup and writes no audit row.

    Args:
        request: The request carrying a credential.

    Raises:
        RateLimited: Too many failures from this IP.
    """
    check_rate_limit(request, "auth_failure", "ip", increment=False)


def count_auth_failure(request: HttpRequest) -> None:
    """Count one wrong credential against the client IP's ``auth_failure`` limit.

    Args:
        request: The request whose credential was refused.
    """
    # This one is answered 401 anyway; the next one is refused up front.
    with contextlib.suppress(RateLimited):
        check_rate_limit(request, "auth_failure", "ip")
