"""Fixtures of the oidc tests: identity providers on 127.0.0.1 (tests/fixtures/oidc.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.oidc import LocalIssuer, Provider, ec_key, rsa_key


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    local = LocalIssuer(keys=[rsa_key("rsa-1"), ec_key("ec-1")]).start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    idp = Provider(tmp_path_factory.mktemp("idp"))
    idp.setup()
    try:
        yield idp
    finally:
        idp.stop()
