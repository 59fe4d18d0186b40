"""Verify OpenID Connect access tokens and provision their users (the app's public face).

Flow for one bearer token (:func:`authenticate_token`):

1. Read the unverified ``iss``; not one of ``OIDC_ISSUERS`` → ``None`` (the next auth
   class — our own JWTs, API keys — gets its turn).
2. The ``alg`` must be one the issuer allows (RS256/ES256 only: never ``none``, never an
   HMAC that a public key could be abused as the secret of).
3. The signing key comes from the issuer's JWKS (found through discovery), kept in
   Django's cache; an unknown ``kid`` refetches the JWKS at most once per
   ``jwks_refresh_seconds`` (key rotation without letting forged kids hammer the IdP).
4. ``iss``, ``exp``/``nbf``/``iat`` (with ``leeway``) and ``aud``/``azp`` are checked.
5. The user is found or created by (issuer, ``sub``); roles are synced from the claims.

An identity provider that cannot be reached only affects its own tokens: fetches time out
after ``timeout`` seconds, a failure is remembered for ``failure_cache_seconds`` (no
request waits on a dead IdP twice in a row), and a token is answered 503 only when its
keys are neither cached nor fetchable.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from transcription_platform.audit.services import log_action
from transcription_platform.conf import settings
from transcription_platform.exceptions import (
    AuthenticationFailed,
    ConfigurationError,
    ServiceUnavailable,
)
from transcription_platform.oidc.error_codes import OidcErrorCode
from transcription_platform.oidc.models import OidcIdentity
from transcription_platform.roles import ROLE_GROUPS, set_managed_roles
from transcription_platform.signals import user_signed_up

logger = logging.getLogger("transcription_platform.oidc")

ALLOWED_ALGORITHMS = ("RS256", "ES256")
MAX_TOKEN_CHARS = 16_384
MAX_DOCUMENT_BYTES = 1024 * 1024
LAST_LOGIN_PRECISION = timedelta(minutes=1)
_CACHE_PREFIX = "transcription_platform:oidc"

_ISSUER_KEYS = {
    "issuer",
    "audience",
    "role_claims",
    "role_map",
    "algorithms",
    "leeway",
    "discovery_url",
    "timeout",
    "jwks_cache_seconds",
    "jwks_refresh_seconds",
    "failure_cache_seconds",
    "email_claim",
    "username_claim",
}


@dataclass(frozen=True)
class IssuerConfig:
    """One validated entry of ``OIDC_ISSUERS`` (see docs/settings.md for each key)."""

    issuer: str
    audience: str
    role_claims: tuple[str, ...] = ("realm_access.roles",)
    role_map: dict[str, str] = field(default_factory=dict)
    algorithms: tuple[str, ...] = ALLOWED_ALGORITHMS
    leeway: int = 30
    discovery_url: str = ""
    timeout: float = 3.0
    jwks_cache_seconds: int = 3600
    jwks_refresh_seconds: int = 60
    failure_cache_seconds: int = 30
    email_claim: str = "email"
    username_claim: str = "preferred_username"

    @property
    def discovery(self) -> str:
        """URL of the issuer's OpenID Connect discovery document."""
        return self.discovery_url or self.issuer.rstrip("/") + "/.well-known/openid-configuration"


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _check_url(name: str, url: str) -> None:
    parts = urlsplit(url)
    # Plain http would let anyone on the path swap the signing keys; loopback is for tests.
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(parts.hostname)):
        raise ConfigurationError(f"OIDC_ISSUERS: {name} must be an https URL, got {url!r}.")


def parse_issuer(entry: Any) -> IssuerConfig:
    """Validate one ``OIDC_ISSUERS`` entry.

    Args:
        entry: The dict from settings.

    Returns:
        The validated configuration.

    Raises:
        ConfigurationError: A key is unknown, missing or of the wrong type or value.
    """
    if not isinstance(entry, dict):
        raise ConfigurationError("OIDC_ISSUERS entries must be dicts.")
    unknown = sorted(set(entry) - _ISSUER_KEYS)
    if unknown:
        raise ConfigurationError(f"OIDC_ISSUERS: unknown key(s) {', '.join(unknown)}.")
    for required in ("issuer", "audience"):
        if not isinstance(entry.get(required), str) or not entry[required]:
            raise ConfigurationError(f"OIDC_ISSUERS: {required!r} must be a non-empty string.")
    values = dict(entry)
    for name in ("role_claims", "algorithms"):
        if name in values:
            if not isinstance(values[name], list | tuple) or not all(
                isinstance(item, str) for item in values[name]
            ):
                raise ConfigurationError(f"OIDC_ISSUERS: {name!r} must be a list of strings.")
            values[name] = tuple(values[name])
    bad_algs = set(values.get("algorithms", ())) - set(ALLOWED_ALGORITHMS)
    if bad_algs or values.get("algorithms") == ():
        raise ConfigurationError(
            f"OIDC_ISSUERS: algorithms must be a non-empty subset of {ALLOWED_ALGORITHMS}."
        )
    role_map = values.get("role_map", {})
    if not isinstance(role_map, dict) or not all(
        isinstance(key, str) and value in ROLE_GROUPS for key, value in role_map.items()
    ):
        raise ConfigurationError(
            f"OIDC_ISSUERS: role_map maps claim values to one of {sorted(ROLE_GROUPS)}."
        )
    for name in ("leeway", "jwks_cache_seconds", "jwks_refresh_seconds", "failure_cache_seconds"):
        if name in values and (type(values[name]) is not int or values[name] < 0):
            raise ConfigurationError(f"OIDC_ISSUERS: {name!r} must be an int >= 0.")
    timeout = values.get("timeout", 3.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ConfigurationError("OIDC_ISSUERS: 'timeout' must be a positive number.")
    config = IssuerConfig(**values)
    _check_url("issuer", config.issuer)
    _check_url("discovery_url", config.discovery)
    return config


def issuer_configs() -> dict[str, IssuerConfig]:
    """The configured issuers by their exact ``iss`` value.

    Returns:
        ``{issuer: IssuerConfig}``; empty when ``OIDC_ISSUERS`` is empty.

    Raises:
        ConfigurationError: An entry is invalid.
    """
    return {config.issuer: config for config in map(parse_issuer, settings.OIDC_ISSUERS)}


# -- Cache helpers: the cache is an optimisation, an outage must not fail sign-in. -------


def _cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:
        logger.warning("Cache unavailable while reading %s", key, exc_info=True)
        return None


def _cache_set(key: str, value: Any, seconds: int) -> None:
    try:
        cache.set(key, value, seconds)
    except Exception:
        logger.warning("Cache unavailable while writing %s", key, exc_info=True)


def _cache_add(key: str, value: Any, seconds: int) -> bool:
    try:
        return bool(cache.add(key, value, seconds))
    except Exception:
        logger.warning("Cache unavailable while writing %s", key, exc_info=True)
        return False


def _key(config: IssuerConfig, kind: str) -> str:
    # Issuer URLs contain characters memcached refuses; a digest is safe everywhere.
    digest = hashlib.sha256(config.issuer.encode()).hexdigest()[:32]
    return f"{_CACHE_PREFIX}:{kind}:{digest}"


# -- Fetching discovery and keys ----------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could leave the checked https origin (or reach ftp:); IdPs answer directly.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310 (http(s) only, checked by _check_url)
    with _opener.open(request, timeout=timeout) as response:
        body = response.read(MAX_DOCUMENT_BYTES + 1)
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return document


def fetch_jwks(config: IssuerConfig) -> dict[str, Any]:
    """Fetch the issuer's JWKS through discovery and cache it.

    Args:
        config: The issuer.

    Returns:
        The JWKS document (``{"keys": [...]}``).

    Raises:
        ServiceUnavailable: Discovery or the JWKS cannot be fetched or is malformed
            (the failure is remembered for ``failure_cache_seconds``).
    """
    try:
        discovery = _get_json(config.discovery, config.timeout)
        if discovery.get("issuer") != config.issuer:
            # OIDC Discovery 4.3: the document must name the issuer it was fetched for.
            raise ValueError(f"discovery names issuer {discovery.get('issuer')!r}")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError("discovery has no jwks_uri")
        _check_url("jwks_uri", jwks_uri)
        jwks = _get_json(jwks_uri, config.timeout)
        if not isinstance(jwks.get("keys"), list):
            raise ValueError("JWKS has no keys list")
    except (OSError, ValueError, ConfigurationError) as exc:
        # OSError covers URLError, timeouts and refused connections.
        logger.warning("OIDC issuer %s unreachable: %s", config.issuer, exc)
        _cache_set(_key(config, "failed"), True, config.failure_cache_seconds)
        raise ServiceUnavailable(
            "The identity provider cannot be reached; try again shortly.",
            code=OidcErrorCode.OIDC_PROVIDER_UNAVAILABLE,
            details={"issuer": config.issuer},
        ) from None
    _cache_set(_key(config, "jwks"), jwks, config.jwks_cache_seconds)
    return jwks


def _jwks(config: IssuerConfig) -> dict[str, Any]:
    cached: dict[str, Any] | None = _cache_get(_key(config, "jwks"))
    if cached is not None:
        return cached
    if _cache_get(_key(config, "failed")):
        raise ServiceUnavailable(
            "The identity provider cannot be reached; try again shortly.",
            code=OidcErrorCode.OIDC_PROVIDER_UNAVAILABLE,
            details={"issuer": config.issuer},
        )
    return fetch_jwks(config)


def _find_key(jwks: dict[str, Any], kid: str | None, alg: str) -> jwt.PyJWK | None:
    for entry in jwks.get("keys", []):
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        if kid is not None and entry.get("kid") != kid:
            continue
        try:
            key = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        # The key type decides the algorithm: an RSA key never verifies an ES256 token.
        if key.algorithm_name == alg:
            return key
    return None


def signing_key(config: IssuerConfig, kid: str | None, alg: str) -> jwt.PyJWK:
    """The issuer's public key for a token header, refetching once for a new ``kid``.

    Args:
        config: The issuer.
        kid: The token's ``kid`` header (``None``: any key of the right type).
        alg: The token's (already allowed) algorithm.

    Returns:
        The verification key.

    Raises:
        AuthenticationFailed: No key matches (after a refetch, if one was allowed).
        ServiceUnavailable: The keys are neither cached nor fetchable.
    """
    key = _find_key(_jwks(config), kid, alg)
    if key is None and _cache_add(_key(config, "refetch"), True, config.jwks_refresh_seconds):
        # A kid we have not seen: the provider may have rotated its keys.
        key = _find_key(fetch_jwks(config), kid, alg)
    if key is None:
        raise _invalid("No signing key of the identity provider matches this token.")
    return key


# -- Verification ---------------------------------------------------------------------------


def _invalid(message: str) -> AuthenticationFailed:
    return AuthenticationFailed(message, code=OidcErrorCode.OIDC_TOKEN_INVALID)


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` claim of a token that looks like a JWT, unverified (routing only).

    Args:
        token: The bearer token.

    Returns:
        The issuer, or ``None`` for anything that is not a JWT with a string ``iss``.
    """
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    issuer = claims.get("iss")
    return issuer if isinstance(issuer, str) else None


def verify_token(token: str, config: IssuerConfig) -> dict[str, Any]:
    """Check a token from ``config.issuer`` and return its claims.

    Args:
        token: The bearer token.
        config: Its issuer's configuration.

    Returns:
        The verified claims.

    Raises:
        AuthenticationFailed: Bad algorithm, signature, issuer, audience or times.
        ServiceUnavailable: The issuer's keys cannot be obtained.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise _invalid("The token is not a valid JWT.") from None
    alg = header.get("alg")
    if alg not in config.algorithms:
        raise _invalid(f"Tokens signed with {str(alg)[:20]!r} are not accepted.")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise _invalid("The token's key id is invalid.")
    key = signing_key(config, kid, alg)
    try:
        claims = jwt.decode(
            token,
            key=key.key,
            algorithms=[alg],
            issuer=config.issuer,
            leeway=config.leeway,
            options={"require": ["exp", "iss", "sub"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise _invalid("The token has expired.") from None
    except jwt.ImmatureSignatureError:
        raise _invalid("The token is not valid yet.") from None
    except jwt.PyJWTError:
        raise _invalid("The token's signature or claims are invalid.") from None
    audiences = claims.get("aud", [])
    audiences = [audiences] if isinstance(audiences, str) else audiences
    # Keycloak puts the client in azp and "account" in aud unless an audience mapper is set.
    if config.audience not in audiences and claims.get("azp") != config.audience:
        raise _invalid("The token was issued for another audience.")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255 or "\x00" in subject:
        raise _invalid("The token's subject is invalid.")
    return claims


def claim_values(claims: dict[str, Any], path: str) -> list[str]:
    """The string values at a dotted claim path (``resource_access.my-api.roles``).

    Args:
        claims: Verified claims.
        path: Dot-separated keys.

    Returns:
        A list of strings (a single string becomes a one-item list; anything else: []).
    """
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return []
        value = value.get(part)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def mapped_roles(claims: dict[str, Any], config: IssuerConfig) -> set[str]:
    """Our roles for the claims, through ``role_claims`` and ``role_map``.

    Args:
        claims: Verified claims.
        config: The issuer.

    Returns:
        Role names (keys of :data:`transcription_platform.roles.ROLE_GROUPS`).
    """
    values = {value for path in config.role_claims for value in claim_values(claims, path)}
    return {config.role_map[value] for value in values if value in config.role_map}


# -- Provisioning ---------------------------------------------------------------------------


def _claim_str(claims: dict[str, Any], name: str, limit: int) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or "\x00" in value:
        return ""
    return value[:limit]


def _free_username(base: str) -> str:
    User = get_user_model()
    field = User._meta.get_field(User.USERNAME_FIELD)
    limit = getattr(field, "max_length", None) or 150
    base = "".join(ch for ch in base if ch.isalnum() or ch in "@.+-_")[: limit - 8] or "oidc"
    candidate, suffix = base, 1
    while User._default_manager.filter(**{User.USERNAME_FIELD: candidate}).exists():
        suffix += 1
        candidate = f"{base}-{suffix}"
    return candidate


def _create_identity(
    config: IssuerConfig, subject: str, email: str, claims: dict[str, Any]
) -> OidcIdentity:
    User = get_user_model()
    username = _free_username(_claim_str(claims, config.username_claim, 150) or email)
    with transaction.atomic():
        user = User._default_manager.create_user(
            **{User.USERNAME_FIELD: username}, email=email, password=None
        )
        return OidcIdentity.objects.create(
            user=user, issuer=config.issuer, subject=subject, email=email
        )


def _send_signed_up(user: Any) -> None:
    user_signed_up.send(sender=type(user), user=user, method="oidc")


def _first_sign_in(
    config: IssuerConfig,
    subject: str,
    email: str,
    claims: dict[str, Any],
    request: HttpRequest | None,
) -> OidcIdentity:
    for _attempt in range(3):
        try:
            identity = _create_identity(config, subject, email, claims)
        except IntegrityError:
            # A concurrent first request created this identity, or took the username.
            existing = (
                OidcIdentity.objects.select_related("user")
                .filter(issuer=config.issuer, subject=subject)
                .first()
            )
            if existing is not None:
                return existing
            continue
        transaction.on_commit(functools.partial(_send_signed_up, identity.user))
        log_action(
            "user_provisioned",
            actor=identity.user,
            request=request,
            obj=identity.user,
            meta={"method": "oidc", "issuer": config.issuer, "subject": subject},
        )
        return identity
    raise ServiceUnavailable("Could not create the account; try again.")


def provision_user(
    claims: dict[str, Any], config: IssuerConfig, *, request: HttpRequest | None = None
) -> Any:
    """The local user for verified claims, created on first sign-in; roles synced.

    Args:
        claims: Verified claims (``sub`` is the identity key, never the email).
        config: The issuer.
        request: The request, for the audit log.

    Returns:
        The active user.

    Raises:
        AuthenticationFailed: The local account is deactivated.
    """
    subject = claims["sub"]
    email = _claim_str(claims, config.email_claim, 254)
    if claims.get("email_verified") is False:
        # An unverified address is not copied: someone else's mailbox must not land here.
        email = ""
    identity = (
        OidcIdentity.objects.select_related("user")
        .filter(issuer=config.issuer, subject=subject)
        .first()
    )
    if identity is None:
        identity = _first_sign_in(config, subject, email, claims, request)
    user = identity.user
    if not user.is_active:
        audit_refusal(request, config.issuer, "account deactivated")
        raise AuthenticationFailed("This account is deactivated.")
    changed = []
    now = timezone.now()
    # Every API call is a sign-in with bearer tokens: record it at most once a minute.
    if identity.last_login_at is None or now - identity.last_login_at > LAST_LOGIN_PRECISION:
        identity.last_login_at = now
        changed.append("last_login_at")
    if email and email != identity.email:
        identity.email = email
        changed.append("email")
        if user.email != email:
            user.email = email
            user.save(update_fields=["email"])
    if changed:
        identity.save(update_fields=changed)
    if config.role_map:
        # Only issuers with a role_map manage roles; otherwise our admin assigns them.
        before, after = set_managed_roles(user, mapped_roles(claims, config))
        if before != after:
            log_action(
                "roles_changed",
                actor=user,
                request=request,
                obj=user,
                meta={"method": "oidc", "issuer": config.issuer, "roles": sorted(after)},
            )
    return user


def audit_refusal(request: HttpRequest | None, issuer: str, reason: str) -> None:
    """Record a refused OIDC token in the audit log.

    Args:
        request: The request that carried it.
        issuer: The token's (configured) issuer.
        reason: Why it was refused, short and free of token content.
    """
    log_action(
        "login_failed",
        request=request,
        meta={"method": "oidc", "issuer": issuer, "reason": reason[:200]},
    )


def authenticate_token(token: str, *, request: HttpRequest | None = None) -> Any:
    """The user of an OIDC access token, or ``None`` when it is not from our issuers.

    Args:
        token: The bearer token.
        request: The request, for the audit log.

    Returns:
        The user, or ``None`` (not a JWT of a configured issuer: let other auth try).

    Raises:
        AuthenticationFailed: The token claims a configured issuer but is invalid.
        ServiceUnavailable: The issuer's keys cannot be obtained.
    """
    issuer = unverified_issuer(token)
    if issuer is None:
        return None
    config = issuer_configs().get(issuer)
    if config is None:
        return None
    try:
        claims = verify_token(token, config)
    except AuthenticationFailed as exc:
        audit_refusal(request, issuer, exc.message)
        raise
    except ServiceUnavailable:
        audit_refusal(request, issuer, "identity provider unavailable")
        raise
    return provision_user(claims, config, request=request)
