"""Shared pytest fixtures; helpers to import live in ``tests.fixtures``.

Test modules import helpers from ``tests.fixtures.*`` only, never from another test
module or a conftest (tests/test_test_layout.py enforces it).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.api import bearer_client
from tests.fixtures.storage import use_tmp_storage
from tests.fixtures.users import PASSWORD
from tests.openai_server import OpenAIServer

#: Fixture modules shared by every directory (``corpus``: malformed uploads).
pytest_plugins = ["tests.fixtures.bad_audio"]


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A scriptable OpenAI-compatible server on 127.0.0.1 (see tests/openai_server.py)."""
    with OpenAIServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Rate-limit counters live in the cache, users in the principal cache: every test
    starts from zero (a flushed table reuses primary keys without a delete signal)."""
    from django.core.cache import caches

    from transcription_platform.roles import forget_principal

    for alias in caches:
        caches[alias].clear()
    forget_principal(None)
    return


@pytest.fixture
def tmp_storage(tmp_path, settings) -> Path:
    """The default storage, pointed at an empty directory of this test."""
    return use_tmp_storage(settings, tmp_path / "media")


@pytest.fixture
def password() -> str:
    return PASSWORD


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


@pytest.fixture
def auth_client(user):
    return bearer_client(user)


@pytest.fixture
def other_client(other_user):
    return bearer_client(other_user)
