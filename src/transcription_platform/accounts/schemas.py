from __future__ import annotations

from datetime import datetime

from django.contrib.auth.base_user import AbstractBaseUser
from ninja import Field, Schema

#: What an e-mail address must look like in the schema; Django's EmailValidator,
#: stricter, answers 400 for the rest.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class RegistrationIn(Schema):
    email: str = Field(..., max_length=254, json_schema_extra={"pattern": EMAIL_PATTERN})
    password: str = Field(..., max_length=4096)
    username: str | None = Field(None, max_length=150)
    referral_code: str | None = Field(
        None,
        max_length=64,
        description="An invitation code from another user (analytics app; ignored without it).",
    )


class LoginIn(Schema):
    """Log in with ``email`` or ``username`` (either may carry the other) and a password.

    Both are optional in the schema (OpenAPI cannot say "one of the two" in a way client
    generators read); the operation answers 400 when neither is given.
    """

    email: str | None = Field(None, max_length=254)
    username: str | None = Field(None, max_length=254)
    password: str = Field(..., max_length=4096)

    @property
    def login(self) -> str:
        return self.email or self.username or ""


class RefreshIn(Schema):
    refresh: str = Field(..., max_length=4096)


class UserOut(Schema):
    id: int
    email: str
    username: str
    date_joined: datetime | None = None

    @staticmethod
    def resolve_username(obj: AbstractBaseUser) -> str:
        return obj.get_username()

    @staticmethod
    def resolve_date_joined(obj: object) -> datetime | None:
        return getattr(obj, "date_joined", None)


class TokensOut(Schema):
    access: str
    refresh: str
    user: UserOut


class AccessOut(Schema):
    access: str
    refresh: str | None = Field(None, description="Present when refresh tokens rotate.")
