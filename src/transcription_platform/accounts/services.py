"""Account services: registration, credential checks and token issuing."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import update_last_login
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.http import HttpRequest
from ninja_jwt.tokens import RefreshToken

from transcription_platform.exceptions import ValidationError

INVALID_CREDENTIALS = "Unable to log in with the provided credentials."


def _field_error(
    field: str, messages: list[str], code: str = "validation_error"
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
def register_user(*, email: str, password: str, username: str | None = None) -> Any:
    """Create an active user; field errors raise :class:`ValidationError` (400)."""
    User = get_user_model()
    email = User._default_manager.normalize_email(email.strip()).lower()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise _field_error("email", ["Enter a valid email address."]) from None
    _lock_email(email)
    if User._default_manager.filter(email__iexact=email).exists():
        raise _field_error("email", ["A user with this email already exists."], "email_taken")

    fields: dict[str, Any] = {"email": email}
    if User.USERNAME_FIELD != "email":
        if username:
            username = username.strip()
            if User._default_manager.filter(
                **{f"{User.USERNAME_FIELD}__iexact": username}
            ).exists():
                raise _field_error(
                    "username", ["A user with this username already exists."], "username_taken"
                )
        fields[User.USERNAME_FIELD] = username or _free_username(email.split("@")[0])

    user = User(**fields)
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise _field_error("password", list(exc.messages), "weak_password") from None
    user.set_password(password)
    try:
        user.full_clean(exclude=["password"])
    except DjangoValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise _field_error(field, messages) from None
    user.save()
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
            update_last_login(None, user)
            return user
    raise ValidationError(INVALID_CREDENTIALS, code="invalid_credentials")


def issue_tokens(user: Any) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}
