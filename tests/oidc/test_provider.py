"""End to end against django-oauth-toolkit (a real OIDC provider) on 127.0.0.1.

Tokens come from the provider's token endpoint (password grant); discovery and the JWKS
come from its OIDC views. See tests/oidc_provider.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from tests.fixtures.api import API, assert_error
from tests.fixtures.oidc import AUDIENCE, Provider, platform_settings
from transcription_platform.oidc.models import OidcIdentity
from transcription_platform.roles import user_roles

pytestmark = [pytest.mark.integration, pytest.mark.oidc_provider, pytest.mark.django_db]

ME = f"{API}/auth/me/"
AUDIT = f"{API}/audit/"


def get(client, url: str, token: str):
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def configured(provider: Provider):
    config = {
        "issuer": provider.issuer,
        "audience": AUDIENCE,
        "role_claims": ["realm_access.roles", f"resource_access.{AUDIENCE}.roles"],
        "role_map": {"tp-admins": "admin", "auditor": "auditor"},
        "leeway": 0,
        "jwks_refresh_seconds": 0,
    }
    with platform_settings(OIDC_ISSUERS=[config]):
        yield provider


def test_provider_user_calls_our_api_with_roles_mapped(client, configured) -> None:
    alice = configured.token("alice")
    me = get(client, ME, alice)
    assert me.status_code == 200, me.content
    assert me.json()["email"] == "alice@idp.test"
    assert get(client, AUDIT, alice).status_code == 200  # tp-admins → admin
    identity = OidcIdentity.objects.get(issuer=configured.issuer)
    assert set(user_roles(identity.user)) >= {"admin", "auditor"}

    bob = configured.token("bob")  # client role tp-api:auditor → auditor
    assert get(client, AUDIT, bob).status_code == 200
    carol = configured.token("carol")  # no roles at the provider
    assert get(client, ME, carol).status_code == 200
    assert_error(get(client, AUDIT, carol), 403, "permission_denied")


def test_key_rotation_at_the_provider_is_picked_up(client, configured) -> None:
    before = configured.token("alice")
    assert get(client, ME, before).status_code == 200
    configured.rotate()
    after = configured.token("alice")
    assert (
        json.loads(base64.urlsafe_b64decode(after.split(".")[0] + "=="))["kid"]
        != json.loads(base64.urlsafe_b64decode(before.split(".")[0] + "=="))["kid"]
    )
    assert get(client, ME, after).status_code == 200
    assert get(client, ME, before).status_code == 200  # old key still published


def test_expired_token_refused(client, configured) -> None:
    token = configured.token("alice", client="short-lived")
    time.sleep(2.1)
    assert_error(get(client, ME, token), 401, "oidc_token_invalid")


def test_wrong_audience_refused(client, configured) -> None:
    token = configured.token("alice", client="other-app")
    assert_error(get(client, ME, token), 401, "oidc_token_invalid")


def test_tampered_token_refused(client, configured) -> None:
    header, payload, signature = configured.token("carol").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["realm_access"] = {"roles": ["tp-admins"]}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert_error(get(client, AUDIT, f"{header}.{forged}.{signature}"), 401, "oidc_token_invalid")
