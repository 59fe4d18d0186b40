"""Identity providers on 127.0.0.1 for the oidc tests.

* :class:`LocalIssuer` (fast, default suite): a real HTTP server in a thread serving a
  discovery document and a JWKS for keys the test holds, so tests can sign what no
  honest provider would (``alg: none``, HS256, wrong keys).
* ``provider`` (integration): django-oauth-toolkit with OIDC in its own process
  (tests/oidc_provider), issuing RS256 tokens through its real token endpoint.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings as django_settings
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[2]
AUDIENCE = "tp-api"


def free_port(first: int, last: int) -> int:
    """A free TCP port on 127.0.0.1 in [first, last] (our share of 18900-18999)."""
    for port in range(first, last + 1):
        with socket.socket() as sock:
            # As the servers themselves do: a port in TIME_WAIT from an earlier test is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{last}")


def platform_settings(**overrides: Any) -> override_settings:
    """override_settings for TRANSCRIPTION_PLATFORM with OidcAuth in front."""
    return override_settings(
        TRANSCRIPTION_PLATFORM={
            **django_settings.TRANSCRIPTION_PLATFORM,
            "AUTHENTICATION": [
                "transcription_platform.oidc.auth.OidcAuth",
                "transcription_platform.auth.PlatformAuth",
            ],
            **overrides,
        }
    )


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        data = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


@dataclass
class LocalIssuer:
    """Discovery + JWKS over real HTTP; ``keys`` is what the JWKS publishes."""

    keys: list[SigningKey] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=lambda: {"discovery": 0, "jwks": 0})
    port: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/realms/test"

    def start(self) -> LocalIssuer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.endswith("/.well-known/openid-configuration"):
                    owner.hits["discovery"] += 1
                    body = {"issuer": owner.issuer, "jwks_uri": f"{owner.issuer}/certs"}
                elif self.path.endswith("/certs"):
                    owner.hits["jwks"] += 1
                    body = {"keys": [key.jwk() for key in owner.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self.port = free_port(18950, 18969)
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def config(self, **overrides: Any) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "audience": AUDIENCE,
            "role_claims": ["realm_access.roles", f"resource_access.{AUDIENCE}.roles", "groups"],
            "role_map": {"tp-admins": "admin", "auditor": "auditor", "/billing": "billing"},
            "leeway": 5,
            "jwks_refresh_seconds": 60,
            "timeout": 1.0,
            **overrides,
        }

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "user-1",
            "aud": "account",
            "azp": AUDIENCE,
            "iat": now,
            "exp": now + 300,
            "preferred_username": "jane",
            "email": "jane@corp.test",
            "email_verified": True,
        }
        claims.update(overrides)
        return {key: value for key, value in claims.items() if value is not None}

    def token(
        self, key: SigningKey | None = None, headers: dict | None = None, **claims: Any
    ) -> str:
        key = key or self.keys[0]
        return jwt.encode(
            self.claims(**claims),
            key.private,
            algorithm=key.alg,
            headers={"kid": key.kid, **(headers or {})},
        )


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer(keys=[rsa_key("rsa-1"), ec_key("ec-1")]).start()
    try:
        yield local
    finally:
        local.stop()


# -- The real provider (integration) ---------------------------------------------------------


def _pem(private: Any) -> bytes:
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass
class Provider:
    """django-oauth-toolkit on 127.0.0.1 in a subprocess; :meth:`rotate` restarts it."""

    workdir: Path
    port: int = 0
    process: subprocess.Popen | None = None
    key_files: list[Path] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}/o"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.oidc_provider.settings",
            "TP_IDP_ISSUER": self.issuer,
            "TP_IDP_DB": str(self.workdir / "idp.sqlite3"),
            "TP_IDP_KEY": str(self.key_files[-1]),
            "TP_IDP_OLD_KEYS": os.pathsep.join(str(path) for path in self.key_files[:-1]),
        }

    def _new_key(self) -> None:
        path = self.workdir / f"key{len(self.key_files)}.pem"
        path.write_bytes(_pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        self.key_files.append(path)

    def setup(self) -> None:
        self.port = free_port(18930, 18949)
        self._new_key()
        for args in (["-m", "django", "migrate", "-v0"], ["-m", "tests.oidc_provider.seed"]):
            subprocess.run([sys.executable, *args], cwd=ROOT, env=self._env(), check=True)
        self.start()

    def start(self) -> None:
        # The provider's log stays beside its database, to explain a failed request.
        with (self.workdir / "provider.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    *("-m", "django", "runserver", f"127.0.0.1:{self.port}", "--noreload"),
                ],
                cwd=ROOT,
                env=self._env(),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration", timeout=1)
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the test identity provider did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def rotate(self) -> None:
        """A new signing key; the previous ones stay published (as Keycloak does)."""
        self.stop()
        self._new_key()
        self.start()

    def token(self, username: str, client: str = AUDIENCE) -> str:
        from tests.oidc_provider import CLIENT_SECRET, PASSWORD

        body = urllib.parse.urlencode(
            {
                "grant_type": "password",
                "username": username,
                "password": PASSWORD,
                "client_id": client,
                "client_secret": CLIENT_SECRET,
                "scope": "read",
            }
        ).encode()
        with urllib.request.urlopen(f"{self.issuer}/token/", data=body, timeout=10) as response:
            return json.load(response)["access_token"]


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    idp = Provider(tmp_path_factory.mktemp("idp"))
    idp.setup()
    try:
        yield idp
    finally:
        idp.stop()
