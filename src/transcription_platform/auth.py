"""Authentication for the API: a JWT access token, a platform API key, and whatever else
the site lists in the ``AUTHENTICATION`` setting.

Every protected operation says ``auth=platform_auth``. By default that accepts:

* ``Authorization: Bearer <JWT access token>`` (from /auth/login/),
* ``Authorization: Bearer <API key>`` (keys start with ``API_KEY_PREFIX``, ``tp_``),
* ``X-API-Key: <API key>``.

A host site can add its own session (for its own pages) with
`SessionAuth`, which enforces CSRF on unsafe methods.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, overload

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.http import HttpRequest
from django.utils.module_loading import import_string
from ninja.security import HttpBearer
from ninja.security import SessionAuth as NinjaSessionAuth
from ninja_extra.exceptions import APIException
from ninja_jwt.authentication import JWTBaseAuthentication
from ninja_jwt.exceptions import TokenError
from ninja_jwt.settings import api_settings as jwt_settings
from ninja_jwt.tokens import BlacklistMixin

from transcription_platform.accounts.services import verify_api_key
from transcription_platform.conf import settings
from transcription_platform.ratelimit import count_auth_failure, refuse_failing_client
from transcription_platform.roles import cached_principal
from transcription_platform.scopes import mark_api_key_request

API_KEY_HEADER = "X-API-Key"

#: Access tokens this process verified: token → (its ``exp``, user id).
_verified_tokens: dict[str, tuple[float, Any]] = {}
_VERIFIED_TOKENS_MAX = 10_000


class PlatformAuth(JWTBaseAuthentication, HttpBearer):
    """Bearer JWT or platform API key; returns the user or None (→ 401)."""

    openapi_description = (
        "JWT access token from /auth/login/ or /auth/registration/, or a platform API key "
        "from /auth/api-keys/ (also accepted in the X-API-Key header)."
    )

    def __call__(self, request: HttpRequest) -> Any:
        api_key = request.headers.get(API_KEY_HEADER)
        if api_key:
            return self._api_key_user(request, api_key)
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        if token.startswith(settings.API_KEY_PREFIX):
            return self._api_key_user(request, token)
        try:
            user_id = self._token_user_id(token)
            user = cached_principal(user_id, lambda: self.get_user({self._claim: user_id}))
        except (APIException, TokenError, KeyError):
            # Expired, malformed, without a user claim, or for a deleted/inactive user: 401.
            return None
        request.user = user  # as ninja_jwt does: code reading request.user sees the caller
        return user

    _claim = jwt_settings.USER_ID_CLAIM

    def _token_user_id(self, token: str) -> Any:
        """The user id of a valid access token; a token once verified is remembered.

        Verifying a JWT (decode, signature, claims) is a fixed function of the token
        and the clock, so this process keeps the answer until the token's ``exp``:
        the API's hot path then verifies each token once. Tokens whose validity can
        change before then (blacklisted kinds, no ``exp``) are verified every time.
        """
        now = time.time()
        known = _verified_tokens.get(token)
        if known is not None and known[0] > now:
            return known[1]
        # ninja_jwt annotates the token class, but returns an instance.
        validated: Any = self.get_validated_token(token)
        user_id = validated[self._claim]
        expires = validated.get("exp")
        if (
            settings.PRINCIPAL_CACHE_SECONDS
            and isinstance(expires, int | float)
            and not isinstance(validated, BlacklistMixin)
        ):
            if len(_verified_tokens) >= _VERIFIED_TOKENS_MAX:
                _verified_tokens.clear()
            _verified_tokens[token] = (float(expires), user_id)
        return user_id

    @staticmethod
    def _api_key_user(request: HttpRequest, api_key: str) -> Any:
        # Wrong keys are counted per IP; past the limit they are refused before the
        # lookup (429), so guessing is slow and writes a bounded number of audit rows.
        refuse_failing_client(request)
        key = verify_api_key(api_key, request=request)
        if key is None:
            count_auth_failure(request)
            return None
        # Operations check the key's scopes (transcription_platform.scopes).
        mark_api_key_request(request, key.scopes)
        # What JWTBaseAuthentication does too: code reading request.user sees the caller.
        request.user = key.user
        return key.user


class SessionAuth(NinjaSessionAuth):
    """The host site's Django session, with CSRF enforced on unsafe methods.

    Unlike ninja's class it only answers for requests that carry a session cookie: a
    bearer-token client with no cookie is never asked for a CSRF token, and a request
    with no credentials at all still answers 401, not 403.
    """

    def __call__(self, request: HttpRequest) -> Any:
        if self.param_name not in request.COOKIES:
            return None
        return super().__call__(request)


class ConfiguredAuth(Sequence[Callable[[HttpRequest], Any]]):
    """The auth callables named by the ``AUTHENTICATION`` setting, in order.

    ninja accepts a sequence as ``auth=`` and tries each entry until one returns a user.
    Entries are built on first use and again after the setting changes, so routers
    declared at import time follow ``override_settings``.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[[HttpRequest], Any]] | None = None

    @property
    def callbacks(self) -> list[Callable[[HttpRequest], Any]]:
        """The instantiated auth callables.

        Returns:
            One callable per dotted path of ``AUTHENTICATION``.

        Raises:
            ImproperlyConfigured: The setting is empty or names something unusable.
        """
        if self._callbacks is None:
            self._callbacks = load_authentication(settings.AUTHENTICATION)
        return self._callbacks

    def reset(self) -> None:
        """Forget the built callables (the setting changed)."""
        self._callbacks = None

    @overload
    def __getitem__(self, index: int) -> Callable[[HttpRequest], Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[Callable[[HttpRequest], Any]]: ...

    def __getitem__(self, index: int | slice) -> Any:
        return self.callbacks[index]

    def __len__(self) -> int:
        return len(self.callbacks)


def load_authentication(paths: list[Any]) -> list[Callable[[HttpRequest], Any]]:
    """Import and instantiate the auth classes named in ``paths``.

    Args:
        paths: Dotted paths of ninja auth classes (instantiated without arguments) or
            of ready callables taking the request.

    Returns:
        The auth callables, in the given order.

    Raises:
        ImproperlyConfigured: ``paths`` is empty, or an entry is not a dotted path to an
            importable callable.
    """
    key = "TRANSCRIPTION_PLATFORM['AUTHENTICATION']"
    if not paths:
        raise ImproperlyConfigured(f"{key} must name at least one auth class.")
    callbacks = []
    for path in paths:
        if not isinstance(path, str):
            raise ImproperlyConfigured(f"{key} entries must be dotted paths, got {path!r}.")
        try:
            target = import_string(path)
        except ImportError as exc:
            raise ImproperlyConfigured(f"{key}: cannot import {path!r} ({exc}).") from exc
        callback = target() if isinstance(target, type) else target
        if not callable(callback):
            raise ImproperlyConfigured(f"{key}: {path!r} is not callable.")
        callbacks.append(callback)
    return callbacks


platform_auth = ConfiguredAuth()


def _reset_authentication(*, setting: str, **kwargs: Any) -> None:
    if setting == "TRANSCRIPTION_PLATFORM":
        platform_auth.reset()


setting_changed.connect(_reset_authentication, dispatch_uid="transcription_platform.auth")


def auth_principal(request: HttpRequest) -> Any:
    """The principal that ``platform_auth`` accepted for this request (the user).

    ninja stores it as ``request.auth`` at run time; django-stubs' ``HttpRequest``
    declares no such attribute, so operations read it through this one typed accessor.

    Args:
        request: The request of an operation protected by ``auth=platform_auth``.

    Returns:
        The authenticated user.
    """
    return request.auth  # type: ignore[attr-defined]  # set by ninja, absent from the stubs
