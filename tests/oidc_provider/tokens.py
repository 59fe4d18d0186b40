"""JWT access tokens for the test provider, signed with its active OIDC key.

Claims follow Keycloak's shape: ``realm_access.roles`` and ``groups`` from the user's
groups, ``resource_access.<client>.roles`` from groups prefixed ``<client>:``; ``aud``
and ``azp`` are the requesting client. An application whose name starts with
``short-lived`` gets tokens valid for one second (to test expiry).
"""

import time

import jwt
from jwcrypto import jwk
from oauth2_provider.settings import oauth2_settings


def signed_access_token(request, refresh_token: bool = False) -> str:
    pem = oauth2_settings.OIDC_RSA_PRIVATE_KEY
    # The same kid django-oauth-toolkit publishes in its JWKS: the key's thumbprint.
    kid = jwk.JWK.from_pem(pem.encode()).thumbprint()
    client = request.client
    user = request.user
    groups = sorted(user.groups.values_list("name", flat=True))
    client_roles = [g.split(":", 1)[1] for g in groups if g.startswith(f"{client.client_id}:")]
    now = int(time.time())
    short = client.name.startswith("short-lived")
    lifetime = 1 if short else int(request.expires_in)
    claims = {
        "iss": oauth2_settings.OIDC_ISS_ENDPOINT,
        "sub": str(user.pk),
        "aud": "tp-api" if short else client.client_id,
        "azp": client.client_id,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "scope": " ".join(request.scopes or []),
        "preferred_username": user.username,
        "email": user.email,
        "email_verified": True,
        "realm_access": {"roles": groups},
        "resource_access": {client.client_id: {"roles": client_roles}},
        "groups": [f"/{g}" for g in groups],
    }
    return jwt.encode(claims, pem, algorithm="RS256", headers={"kid": kid})
