"""OidcAuth against a LocalIssuer (real HTTP on 127.0.0.1, keys held by the test)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization
from django.contrib.auth import get_user_model

from tests.fixtures.api import API, assert_error, bearer_client
from tests.fixtures.oidc import AUDIENCE, LocalIssuer, ec_key, platform_settings, rsa_key
from transcription_platform.audit.models import AuditLog
from transcription_platform.oidc.models import OidcIdentity
from transcription_platform.roles import user_roles

pytestmark = pytest.mark.django_db

ME = f"{API}/auth/me/"
AUDIT = f"{API}/audit/"


def get(client, url: str, token: str):
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def configured(issuer: LocalIssuer):
    with platform_settings(OIDC_ISSUERS=[issuer.config()]):
        yield issuer


def test_rs256_token_provisions_user_by_subject(client, configured) -> None:
    response = get(client, ME, configured.token())
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["email"] == "jane@corp.test"
    identity = OidcIdentity.objects.get(issuer=configured.issuer, subject="user-1")
    assert identity.user.pk == body["id"]
    assert not identity.user.has_usable_password()
    assert AuditLog.objects.filter(action="user_provisioned", actor=identity.user).count() == 1


def test_es256_token_accepted(client, configured) -> None:
    token = configured.token(configured.keys[1])
    assert get(client, ME, token).status_code == 200


def test_email_change_keeps_the_account_and_email_is_not_the_key(client, configured) -> None:
    first = get(client, ME, configured.token()).json()
    second = get(client, ME, configured.token(email="jane.doe@corp.test")).json()
    assert second["id"] == first["id"]
    assert second["email"] == "jane.doe@corp.test"
    # Another subject with the first user's old address is another person.
    third = get(client, ME, configured.token(sub="user-2", email="jane@corp.test")).json()
    assert third["id"] != first["id"]
    assert OidcIdentity.objects.count() == 2


def test_unverified_email_is_not_copied(client, configured) -> None:
    body = get(client, ME, configured.token(email="ceo@corp.test", email_verified=False)).json()
    assert body["email"] == ""


def test_roles_mapped_from_claims_on_each_login(client, configured) -> None:
    token = configured.token(
        realm_access={"roles": ["tp-admins", "offline_access"]},
        groups=["/billing"],
    )
    assert get(client, AUDIT, token).status_code == 200
    user = OidcIdentity.objects.get().user
    assert set(user_roles(user)) == {"member", "admin", "billing", "auditor", "analyst"}
    # Next login the provider dropped the admin role: we drop it too.
    token = configured.token(resource_access={AUDIENCE: {"roles": ["auditor"]}})
    assert get(client, AUDIT, token).status_code == 200
    user.refresh_from_db()
    assert set(user_roles(user)) == {"member", "auditor"}
    token = configured.token()
    assert_error(get(client, AUDIT, token), 403, "permission_denied")
    assert AuditLog.objects.filter(action="roles_changed").count() == 3


def test_our_own_jwt_and_api_keys_still_work(client, configured, user) -> None:
    assert bearer_client(user).get(ME).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 60},
        {"nbf": int(time.time()) + 600},
        {"aud": "other", "azp": "other"},
        {"exp": None},
        {"sub": None},
        {"sub": 42},
        {"sub": "a\x00b"},
        {"sub": "x" * 300},
    ],
    ids=["expired", "not-yet", "wrong-audience", "no-exp", "no-sub", "int-sub", "nul", "huge"],
)
def test_bad_claims_refused(client, configured, claims) -> None:
    assert_error(get(client, ME, configured.token(**claims)), 401, "oidc_token_invalid")
    assert AuditLog.objects.filter(action="login_failed").exists()
    assert not OidcIdentity.objects.exists()


def test_audience_in_aud_list_accepted(client, configured) -> None:
    token = configured.token(aud=["account", AUDIENCE], azp="someone-else")
    assert get(client, ME, token).status_code == 200


def _forge(header: dict, claims: dict, signature: bytes = b"") -> str:
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join(
        [part(json.dumps(header).encode()), part(json.dumps(claims).encode()), part(signature)]
    )


def test_alg_none_refused(client, configured) -> None:
    token = _forge({"alg": "none", "kid": "rsa-1"}, configured.claims())
    assert_error(get(client, ME, token), 401, "oidc_token_invalid")


def test_hs256_with_the_public_key_as_secret_refused(client, configured) -> None:
    # The classic key-confusion forgery: HMAC keyed with the published public key.
    public_pem = (
        configured.keys[0]
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    unsigned = _forge({"alg": "HS256", "kid": "rsa-1"}, configured.claims()).rsplit(".", 1)[0]
    signature = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()
    token = f"{unsigned}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"
    assert_error(get(client, ME, token), 401, "oidc_token_invalid")


def test_tampered_payload_refused(client, configured) -> None:
    header, _, signature = configured.token().split(".")
    payload = base64.urlsafe_b64encode(
        json.dumps(configured.claims(realm_access={"roles": ["tp-admins"]})).encode()
    )
    token = f"{header}.{payload.rstrip(b'=').decode()}.{signature}"
    assert_error(get(client, ME, token), 401, "oidc_token_invalid")


def test_rsa_key_cannot_verify_es256_header(client, configured) -> None:
    # kid of the RSA key with an ES256 header: the key type decides, not the header.
    token = configured.token(ec_key("rsa-1"))
    assert_error(get(client, ME, token), 401, "oidc_token_invalid")


def test_token_signed_by_a_stranger_refused(client, configured) -> None:
    assert_error(get(client, ME, configured.token(rsa_key("rsa-1"))), 401, "oidc_token_invalid")


def test_unknown_issuer_is_our_401(client, configured) -> None:
    token = configured.token(iss="https://evil.test/realms/x")
    assert_error(get(client, ME, token), 401, "not_authenticated")


@pytest.mark.parametrize(
    "token",
    ["a.b.c", "x" * 20000, "tp_not-a-key", "%00.%00.%00", "eyJ.eyJ.", "\u00e9.\u00e9.\u00e9"],
)
def test_garbage_tokens_are_401(client, configured, token) -> None:
    assert_error(get(client, ME, token), 401)


def test_key_rotation_refetches_once_then_rate_limited(client, configured) -> None:
    assert get(client, ME, configured.token()).status_code == 200
    assert configured.hits["jwks"] == 1
    new_key = rsa_key("rsa-2")
    configured.keys.append(new_key)
    assert get(client, ME, configured.token(new_key)).status_code == 200
    assert configured.hits["jwks"] == 2
    # Forged kids do not make us hammer the provider: the rotation used this window's refetch.
    for index in range(5):
        stranger = rsa_key(f"forged-{index}")
        assert_error(get(client, ME, configured.token(stranger)), 401, "oidc_token_invalid")
    assert configured.hits["jwks"] == 2


def test_provider_down_only_affects_its_tokens(client, issuer, user) -> None:
    token = issuer.token()
    issuer.stop()
    with platform_settings(OIDC_ISSUERS=[issuer.config()]):
        assert_error(get(client, ME, token), 503, "oidc_provider_unavailable")
        assert_error(get(client, ME, token), 503, "oidc_provider_unavailable")
        # Our own tokens never wait for the provider.
        started = time.monotonic()
        assert bearer_client(user).get(ME).status_code == 200
        assert time.monotonic() - started < 0.5


def test_failure_is_cached_briefly(client, issuer) -> None:
    token = issuer.token()
    with platform_settings(OIDC_ISSUERS=[issuer.config(discovery_url="http://127.0.0.1:9/x")]):
        assert_error(get(client, ME, token), 503, "oidc_provider_unavailable")
        # Still failing (cached), although the issuer itself is up: no second fetch.
        assert_error(get(client, ME, token), 503, "oidc_provider_unavailable")
    assert issuer.hits["discovery"] == 0


def test_cached_keys_survive_a_provider_outage(client, configured) -> None:
    assert get(client, ME, configured.token()).status_code == 200
    configured.stop()
    assert get(client, ME, configured.token()).status_code == 200


def test_deactivated_user_refused(client, configured) -> None:
    get(client, ME, configured.token())
    get_user_model().objects.update(is_active=False)
    assert_error(get(client, ME, configured.token()), 401, "not_authenticated")


def test_issuer_must_match_discovery(client, issuer) -> None:
    config = issuer.config(
        issuer=issuer.issuer + "/",
        discovery_url=issuer.issuer + "/.well-known/openid-configuration",
    )
    with platform_settings(OIDC_ISSUERS=[config]):
        token = issuer.token(iss=issuer.issuer + "/")
        assert_error(get(client, ME, token), 503, "oidc_provider_unavailable")


@pytest.mark.parametrize(
    "entry",
    [
        "https://sso.test",
        {"issuer": "https://sso.test"},
        {"issuer": "http://sso.test/realms/x", "audience": "a"},
        {"issuer": "https://sso.test", "audience": "a", "algorithms": ["HS256"]},
        {"issuer": "https://sso.test", "audience": "a", "algorithms": ["none"]},
        {"issuer": "https://sso.test", "audience": "a", "algorithms": []},
        {"issuer": "https://sso.test", "audience": "a", "role_map": {"x": "superuser"}},
        {"issuer": "https://sso.test", "audience": "a", "leeway": "30"},
        {"issuer": "https://sso.test", "audience": "a", "timeout": 0},
        {"issuer": "https://sso.test", "audience": "a", "colour": "blue"},
    ],
)
def test_bad_issuer_config_is_a_system_check_error(entry) -> None:
    from transcription_platform.oidc.checks import check_oidc_issuers

    with platform_settings(OIDC_ISSUERS=[entry]):
        assert [m.id for m in check_oidc_issuers()] == ["transcription_platform_oidc.E001"]


def test_issuers_without_the_auth_class_warn(issuer) -> None:
    from django.conf import settings as django_settings
    from django.test import override_settings

    from transcription_platform.oidc.checks import check_oidc_issuers

    tp = {
        **django_settings.TRANSCRIPTION_PLATFORM,
        "AUTHENTICATION": ["transcription_platform.auth.PlatformAuth"],
        "OIDC_ISSUERS": [issuer.config()],
    }
    with override_settings(TRANSCRIPTION_PLATFORM=tp):
        assert [m.id for m in check_oidc_issuers()] == ["transcription_platform_oidc.W001"]
    with platform_settings(OIDC_ISSUERS=[issuer.config()]):
        assert check_oidc_issuers() == []


def test_cache_outage_does_not_stop_sign_in(client, configured) -> None:
    import socket

    from django.test import override_settings

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead_redis = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/9",
            "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
        }
    }
    with override_settings(CACHES=dead_redis):
        for _ in range(2):
            response = get(client, ME, configured.token())
            assert response.status_code == 200, response.content
    # Nothing could be cached: every request fetched the keys itself.
    assert configured.hits["jwks"] == 2
