"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.openai_server import OpenAIServer


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A scriptable OpenAI-compatible server on 127.0.0.1 (see tests/openai_server.py)."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Rate-limit counters live in the cache: every test starts from zero."""
    from django.core.cache import caches

    for alias in caches:
        caches[alias].clear()
    return


@pytest.fixture
def password() -> str:
    return "Correct-Horse-42"


@pytest.fixture
def user(db, password):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username="alice", email="alice@example.com", password=password
    )


@pytest.fixture
def other_user(db, password):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username="bob", email="bob@example.com", password=password
    )


def bearer_client(user):
    """A Django test client that sends a fresh JWT access token for ``user``."""
    from django.test import Client
    from ninja_jwt.tokens import RefreshToken

    token = RefreshToken.for_user(user).access_token
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def auth_client(user):
    return bearer_client(user)


@pytest.fixture
def other_client(other_user):
    return bearer_client(other_user)


API = "/rest/api/v1"


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response has ``status`` and our error shape (and ``code`` when given)."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "details"} <= set(body["error"])
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]
