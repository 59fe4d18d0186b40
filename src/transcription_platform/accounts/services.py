"""Account services: registration, credential checks, token issuing, per-user provider
settings (bring your own key) and platform API keys."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any, cast

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from ninja_jwt.tokens import RefreshToken

from transcription_platform.accounts.error_codes import AccountErrorCode
from transcription_platform.accounts.models import ApiKey, TranscriptionSettings
from transcription_platform.audit.services import log_action
from transcription_platform.conf import settings as platform_settings
from transcription_platform.crypto import RevealedSecret
from transcription_platform.error_codes import PlatformErrorCode
from transcription_platform.exceptions import ValidationError
from transcription_platform.hooks import imported_by_apps
from transcription_platform.scopes import DEFAULT_API_KEY_SCOPES, normalize_scopes
from transcription_platform.shortcuts import get_or_not_found
from transcription_platform.signals import user_signed_up
from transcription_platform.validators import normalize_language, validate_prompt

INVALID_CREDENTIALS = "Unable to log in with the provided credentials."


def _field_error(
    field: str, messages: list[str], code: str = PlatformErrorCode.VALIDATION_ERROR
) -> ValidationError:
    return ValidationError(
        messages[0], code=code, details=[{"field": field, "message": m} for m in messages]
    )


def _lock_email(email: str) -> None:
    """Serialise concurrent registrations of one address (the default User model has
    no unique constraint on email) with a transaction-scoped advisory lock."""
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _free_username(base: str) -> str:
    User = get_user_model()
    base = re.sub(r"[^\w.@+-]", "", base)[:140] or "user"
    candidate, n = base, 1
    while User._default_manager.filter(**{User.USERNAME_FIELD: candidate}).exists():
        n += 1
        candidate = f"{base}{n}"
    return candidate


@transaction.atomic
def register_user(
    *,
    email: str,
    password: str,
    username: str | None = None,
    referral_code: str | None = None,
) -> Any:
    """Create an active user; field errors raise `ValidationError` (400).

    Every installed app's ``registration_hooks`` runs inside the transaction with
    ``(user, referral_code=...)`` and may raise to refuse (the analytics app checks and
    counts the referral code); ``user_signed_up`` is sent after the commit.
    """
    User = get_user_model()
    email = User._default_manager.normalize_email(email.strip()).lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise _field_error("email", ["Enter a valid email address."]) from None
    _lock_email(email)
    if User._default_manager.filter(email__iexact=email).exists():
        raise _field_error(
            "email", ["A user with this email already exists."], AccountErrorCode.EMAIL_TAKEN
        )

    fields: dict[str, Any] = {"email": email}
    if User.USERNAME_FIELD != "email":
        if username:
            username = username.strip()
            if User._default_manager.filter(
                **{f"{User.USERNAME_FIELD}__iexact": username}
            ).exists():
                raise _field_error(
                    "username",
                    ["A user with this username already exists."],
                    AccountErrorCode.USERNAME_TAKEN,
                )
        fields[User.USERNAME_FIELD] = username or _free_username(email.split("@")[0])

    user = User(**fields)
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise _field_error("password", list(exc.messages), AccountErrorCode.WEAK_PASSWORD) from None
    user.set_password(password)
    try:
        user.full_clean(exclude=["password"])
    except DjangoValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise _field_error(field, messages) from None
    user.save()
    for hook in imported_by_apps("registration_hooks"):
        hook(user, referral_code=referral_code or None)
    transaction.on_commit(
        lambda: user_signed_up.send(sender=type(user), user=user, method="password")
    )
    return user


def login_user(request: HttpRequest, *, login: str, password: str) -> Any:
    """The user for an email or username + password, or a 400 with one message for
    every failure (no hint whether the account exists)."""
    User = get_user_model()
    login = login.strip()
    usernames: list[str] = []
    if "@" in login:
        usernames = [
            u.get_username()
            for u in User._default_manager.filter(email__iexact=login).order_by("pk")[:5]
        ]
    if not usernames:
        # Unknown users still go through authenticate(): the backend runs the hasher
        # anyway, so response time does not reveal whether the account exists.
        usernames = [login]
    for username in usernames:
        user = authenticate(request, **{User.USERNAME_FIELD: username, "password": password})
        if user is not None:
            update_last_login(type(user), user)  # the receiver ignores its sender
            return user
    log_action("login_failed", request=request, meta={"method": "password", "login": login[:254]})
    raise ValidationError(INVALID_CREDENTIALS, code=AccountErrorCode.INVALID_CREDENTIALS)


def issue_tokens(user: Any) -> dict[str, str]:
    # ninja_jwt annotates for_user's cls as the instance type (cls: T -> T), so mypy
    # refuses the class as its self; the call is right, the annotation is not.
    refresh = cast("RefreshToken", RefreshToken.for_user(user))  # type: ignore[misc]
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


# --------------------------------------------------------------- provider settings (BYOK)

SETTINGS_FIELDS = ("engine", "model", "language", "prompt", "analysis_enabled", "api_key")


def get_transcription_settings(user: Any) -> TranscriptionSettings:
    """The user's settings; an unsaved all-defaults instance when they have none yet."""
    return TranscriptionSettings.objects.filter(user=user).first() or TranscriptionSettings(
        user=user
    )


def transcription_defaults_for(user: Any) -> dict[str, Any]:
    """The user's saved defaults for a new transcription: only the fields they set
    (``engine``, ``model``, ``language``, ``prompt``, ``analysis_enabled``), never the key."""
    current = get_transcription_settings(user)
    values = {name: getattr(current, name) for name in SETTINGS_FIELDS if name != "api_key"}
    return {name: value for name, value in values.items() if value not in ("", None)}


def update_transcription_settings(
    user: Any, changes: dict[str, Any], *, request: HttpRequest | None = None
) -> TranscriptionSettings:
    """Apply ``changes`` (a subset of `SETTINGS_FIELDS`) and audit which changed.

    ``api_key``: a string sets it, ``""`` or ``None`` clears it. Errors never echo it;
    pass it as a `transcription_platform.crypto.RevealedSecret` so that
    tracebacks of this call never show it either.
    """
    unknown = sorted(set(changes) - set(SETTINGS_FIELDS))
    if unknown:
        raise ValidationError(f"Unknown setting(s): {', '.join(unknown)}.")
    cleaned = {name: _clean_setting(name, value) for name, value in changes.items()}
    with transaction.atomic():
        current, _ = TranscriptionSettings.objects.select_for_update().get_or_create(user=user)
        changed = sorted(name for name, value in cleaned.items() if getattr(current, name) != value)
        for name in changed:
            setattr(current, name, cleaned[name])
        if changed:
            current.save()
    if changed:
        log_action(
            "settings_changed", request=request, actor=user, obj=current, meta={"fields": changed}
        )
    return current


def _clean_setting(name: str, value: Any) -> Any:
    if name == "analysis_enabled":
        if value is not None and not isinstance(value, bool):
            raise _field_error(name, ["Must be true, false or null (the site default)."])
        return value
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _field_error(name, ["Must be a string."])
    if name == "api_key":
        return _clean_api_key(value)
    value = value.strip()
    if name == "engine" and value and value not in platform_settings.ENGINES:
        names = ", ".join(sorted(platform_settings.ENGINES))
        raise _field_error(name, [f"Unknown engine {value!r}; this site offers: {names}."])
    if name == "language":
        return normalize_language(value)
    if name == "prompt":
        return validate_prompt(value)
    return value


def _clean_api_key(api_key: str) -> RevealedSecret:
    # Kept a RevealedSecret all along: tracebacks and %r show it masked.
    api_key = RevealedSecret(api_key.strip())
    if any(ch.isspace() for ch in api_key):
        # The key itself is never part of the message.
        raise _field_error("api_key", ["An API key cannot contain whitespace."])
    return api_key


def provider_api_key_for(user: Any, engine: str | None = None) -> str | None:
    """The user's own provider key (decrypted), or ``None`` to use the site's key.

    With ``engine``, the key is returned only when that engine is the one the user's
    key is for: their preferred engine (or the site default when they chose none).
    """
    if user is None or getattr(user, "pk", None) is None:
        return None
    current = TranscriptionSettings.objects.filter(user=user).only("api_key", "engine").first()
    if current is None or not current.api_key:
        return None
    if engine is not None and engine != (current.engine or platform_settings.DEFAULT_ENGINE):
        return None
    api_key: str = current.api_key  # the field decrypts to str
    return api_key


# --------------------------------------------------------------------- platform API keys

API_KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)
_PUBLIC_ID_RE = re.compile(r"[0-9a-f]{12}")


def _hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _clean_scopes(scopes: Iterable[str] | None) -> list[str]:
    if scopes is None:
        return list(DEFAULT_API_KEY_SCOPES)
    try:
        return normalize_scopes(scopes)
    except ValueError as exc:
        raise _field_error("scopes", [str(exc)]) from None


def create_api_key(
    user: Any,
    name: str,
    *,
    scopes: Iterable[str] | None = None,
    request: HttpRequest | None = None,
) -> tuple[ApiKey, str]:
    """A new key for ``user``: ``(ApiKey, secret)``. The secret is not stored anywhere;
    show it once. Format: ``<API_KEY_PREFIX><12 hex>_<43 url-safe chars>``.

    ``scopes`` (names of `transcription_platform.scopes.Scope`) default to ``read``
    and ``transcribe``. Callers decide who may create keys: the API allows it to
    sign-in sessions only, never to another key.
    """
    name = name.strip()
    if not name:
        raise _field_error("name", ["Give the key a name."])
    cleaned_scopes = _clean_scopes(scopes)
    while True:
        prefix = f"{platform_settings.API_KEY_PREFIX}{secrets.token_hex(6)}"
        if not ApiKey.objects.filter(prefix=prefix).exists():
            break
    secret = RevealedSecret(f"{prefix}_{secrets.token_urlsafe(32)}")
    key = ApiKey.objects.create(
        user=user,
        name=name,
        prefix=prefix,
        secret_hash=_hash_api_key(secret),
        scopes=cleaned_scopes,
    )
    log_action(
        "api_key_created",
        request=request,
        actor=user,
        obj=key,
        meta={"prefix": prefix, "scopes": cleaned_scopes},
    )
    return key, secret


def revoke_api_key(user: Any, key_id: int, *, request: HttpRequest | None = None) -> ApiKey:
    """Revoke one of ``user``'s keys (idempotent); another user's key is a 404."""
    key = get_or_not_found(ApiKey.objects.filter(user=user), "API key not found.", pk=key_id)
    revoke_api_keys([key], actor=user, request=request)
    return key


def revoke_api_keys(
    keys: Iterable[ApiKey], *, actor: Any, request: HttpRequest | None = None
) -> int:
    """Revoke the active ones among ``keys`` (support admins: any user's); audited."""
    revoked = 0
    for key in keys:
        if key.revoked_at is not None:
            continue
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        log_action(
            "api_key_revoked", request=request, actor=actor, obj=key, meta={"prefix": key.prefix}
        )
        revoked += 1
    return revoked


def authenticate_api_key(api_key: str, *, request: HttpRequest | None = None) -> Any:
    """The active user owning the active ``api_key``, else ``None``; records last use.

    The key's scopes are not checked here: callers that act for the user must (see
    `verify_api_key`).
    """
    key = verify_api_key(api_key, request=request)
    return key.user if key is not None else None


def verify_api_key(api_key: str, *, request: HttpRequest | None = None) -> ApiKey | None:
    """The active ``api_key`` of an active user (with ``user`` loaded), else ``None``;
    records last use."""
    api_key = RevealedSecret(api_key.strip())
    marker = platform_settings.API_KEY_PREFIX
    if not api_key.startswith(marker):
        return None
    # The public id is hex (no "_"); the secret after it may contain "_".
    public_id, _, secret = api_key[len(marker) :].partition("_")
    if not _PUBLIC_ID_RE.fullmatch(public_id) or not secret:
        return None
    prefix = f"{marker}{public_id}"
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if key is None:
        return None
    if (
        key.revoked_at is not None
        or not constant_time_compare(key.secret_hash, _hash_api_key(api_key))
        or not key.user.is_active
    ):
        # A known prefix with a wrong secret, or a revoked key: worth an audit entry.
        log_action("login_failed", request=request, meta={"method": "api_key", "prefix": prefix})
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= API_KEY_LAST_USED_RESOLUTION:
        # Once a minute at most: no write on every request.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
