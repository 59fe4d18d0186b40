"""What a platform API key may do: its scopes, checked on every operation.

A leaked key must not be able to mint more keys or take over the account, so keys
carry scopes and account management is left to a person's session:

* ``read``: every ``GET`` (transcriptions, exports, audio, usage, settings...).
* ``transcribe``: start work that costs — create, retry and cancel transcriptions,
  request an analysis, the OpenAI-compatible ``/v1/audio/...``.
* ``manage``: every other change — delete transcriptions, webhooks, budgets, the
  transcription settings (but not the provider key).

Creating or revoking API keys and setting the provider key need a sign-in session (a
JWT from ``/auth/login/``, an OIDC token or the host's session) whatever the scopes:
a key can never make or keep another key alive. New keys get ``read`` and
``transcribe`` unless asked otherwise: what the documented scripts need.

Operations say what they need with `requires_scope` or `session_only`; without
either, a safe method needs ``read`` and any other ``manage``. `enforce_scopes`
(installed on the API by ``install_platform``) checks it after authentication;
non-ninja views and conditional checks call `check_scope` or `require_session`.
Other credentials (JWT, OIDC, session) have every scope.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from django.http import HttpRequest

from transcription_platform.error_codes import PlatformErrorCode
from transcription_platform.exceptions import PermissionDenied


class Scope(StrEnum):
    """A permission of a platform API key."""

    READ = "read"
    TRANSCRIBE = "transcribe"
    MANAGE = "manage"


#: What a new key gets when its creator names no scopes.
DEFAULT_API_KEY_SCOPES: tuple[Scope, ...] = (Scope.READ, Scope.TRANSCRIBE)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Set on the request by the API-key authentication: the scopes of the key used.
_REQUEST_ATTR = "_tp_api_key_scopes"
# Set on an operation by the decorators below; functools.wraps copies it outward.
_OPERATION_ATTR = "_tp_required_scope"
_SESSION_ONLY = "session"


def normalize_scopes(scopes: Iterable[str]) -> list[str]:
    """``scopes`` checked, de-duplicated and in the canonical order.

    Args:
        scopes: Scope names.

    Returns:
        The names, in the order of `Scope`.

    Raises:
        ValueError: An unknown name, or none at all.
    """
    names = set(scopes)
    unknown = sorted(names - set(Scope))
    if unknown:
        allowed = ", ".join(Scope)
        raise ValueError(f"Unknown scope(s): {', '.join(unknown)}; choose from {allowed}.")
    if not names:
        raise ValueError("Give the key at least one scope.")
    return [scope.value for scope in Scope if scope in names]


def mark_api_key_request(request: HttpRequest, scopes: Iterable[str]) -> None:
    """Record that ``request`` is authenticated by an API key with ``scopes``.

    Args:
        request: The request being authenticated.
        scopes: The key's scopes.
    """
    setattr(request, _REQUEST_ATTR, frozenset(scopes))


def api_key_scopes(request: HttpRequest) -> frozenset[str] | None:
    """The scopes of the API key that authenticated ``request``; None for any other
    credential (which has every scope)."""
    scopes: frozenset[str] | None = getattr(request, _REQUEST_ATTR, None)
    return scopes


def check_scope(request: HttpRequest, scope: str) -> None:
    """Refuse an API key without ``scope`` (or any API key, for ``"session"``).

    Args:
        request: An authenticated request.
        scope: A `Scope` value, or ``"session"`` for a sign-in session only.

    Raises:
        PermissionDenied: 403 ``session_required`` or ``insufficient_scope``.
    """
    granted = api_key_scopes(request)
    if granted is None:
        return
    if scope == _SESSION_ONLY:
        raise PermissionDenied(
            "API keys cannot do this: sign in with your password (or single sign-on).",
            code=PlatformErrorCode.SESSION_REQUIRED,
        )
    if scope not in granted:
        raise PermissionDenied(
            f"This API key lacks the {scope!r} scope.",
            code=PlatformErrorCode.INSUFFICIENT_SCOPE,
            details={"required": scope, "granted": sorted(granted)},
        )


def require_session(request: HttpRequest) -> None:
    """Refuse any API key: what follows needs a person's sign-in session.

    Args:
        request: An authenticated request.

    Raises:
        PermissionDenied: 403 ``session_required`` for an API key.
    """
    check_scope(request, _SESSION_ONLY)


def requires_scope(scope: Scope) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the scope an API key needs for an operation (under ``@router.<method>``).

    Args:
        scope: The scope.

    Returns:
        A decorator that marks the operation.
    """

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        setattr(view, _OPERATION_ATTR, scope.value)
        return view

    return decorator


def session_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an operation that no API key may call (key management).

    Args:
        view: The ninja operation.

    Returns:
        The same function, marked.
    """
    setattr(view, _OPERATION_ATTR, _SESSION_ONLY)
    return view


def enforce_scopes(view: Callable[..., Any]) -> Callable[..., Any]:
    """Check the operation's scope before it runs (``api.add_decorator``).

    Args:
        view: A ninja operation.

    Returns:
        The wrapped operation.
    """
    declared: str | None = getattr(view, _OPERATION_ATTR, None)

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        if declared is not None:
            scope = declared
        else:
            scope = Scope.READ if request.method in SAFE_METHODS else Scope.MANAGE
        check_scope(request, scope)
        return view(request, *args, **kwargs)

    return wrapper
