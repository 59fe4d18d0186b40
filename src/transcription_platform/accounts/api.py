"""``/auth/``: registration, login, token refresh, logout and the current user."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Status
from ninja_jwt.exceptions import TokenError
from ninja_jwt.settings import api_settings as jwt_settings
from ninja_jwt.tokens import RefreshToken

from transcription_platform.accounts import services
from transcription_platform.accounts.error_codes import AccountErrorCode
from transcription_platform.accounts.schemas import (
    AccessOut,
    LoginIn,
    RefreshIn,
    RegistrationIn,
    TokensOut,
    UserOut,
)
from transcription_platform.accounts.tokens import refresh_tokens
from transcription_platform.auth import auth_principal, platform_auth
from transcription_platform.conf import settings
from transcription_platform.exceptions import (
    RegistrationClosed,
    ValidationError,
)
from transcription_platform.ratelimit import check_rate_limit, rate_limit
from transcription_platform.schemas import error_responses

router = Router(tags=["auth"])


@router.post(
    "registration/",
    operation_id="auth_register",
    response={201: TokensOut, **error_responses(400, 403)},
    summary="Create an account and receive tokens (when REGISTRATION_OPEN)",
)
@rate_limit("registration", "ip")
def register(request: HttpRequest, payload: RegistrationIn) -> Status[dict[str, Any]]:
    if not settings.REGISTRATION_OPEN:
        raise RegistrationClosed()
    user = services.register_user(
        email=payload.email,
        password=payload.password,
        username=payload.username,
        referral_code=payload.referral_code,
    )
    return Status(201, {**services.issue_tokens(user), "user": user})


@router.post(
    "login/",
    operation_id="auth_login",
    response={200: TokensOut, **error_responses(400)},
    summary="Exchange email (or username) and password for tokens",
)
@rate_limit("login", "ip")
def login(request: HttpRequest, payload: LoginIn) -> dict[str, Any]:
    if not payload.login:
        raise ValidationError(
            "Provide email or username.", details=[{"field": "email", "source": "body"}]
        )
    # Per account as well as per IP: guessing one account's password from many
    # addresses is throttled, while an office behind one NAT can still sign in.
    check_rate_limit(request, "login_account", key=f"login:{payload.login.strip().lower()}")
    user = services.login_user(request, login=payload.login, password=payload.password)
    return {**services.issue_tokens(user), "user": user}


@router.post(
    "refresh/",
    operation_id="auth_refresh",
    response={200: AccessOut, **error_responses(401)},
    summary="Exchange a refresh token for a new access token",
)
@rate_limit("refresh", "ip")
def refresh(request: HttpRequest, payload: RefreshIn) -> dict[str, str | None]:
    return refresh_tokens(payload.refresh)


@router.post(
    "logout/",
    operation_id="auth_logout",
    auth=platform_auth,
    response={204: None, **error_responses(400)},
    summary="Revoke a refresh token (blacklist)",
)
@rate_limit("logout", "user")
def logout(request: HttpRequest, payload: RefreshIn) -> Status[None]:
    try:
        token = RefreshToken(payload.refresh)
    except TokenError:
        raise ValidationError(
            "Token is invalid, expired or already revoked.", code=AccountErrorCode.TOKEN_NOT_VALID
        ) from None
    if str(token.get(jwt_settings.USER_ID_CLAIM)) != str(auth_principal(request).pk):
        raise ValidationError(
            "This refresh token belongs to another user.", code=AccountErrorCode.TOKEN_NOT_VALID
        )
    token.blacklist()
    return Status(204, None)


@router.get(
    "me/",
    operation_id="auth_me",
    auth=platform_auth,
    response=UserOut,
    summary="The authenticated user",
)
def me(request: HttpRequest) -> Any:
    return auth_principal(request)
