"""Shared pytest fixtures; helpers to import live in ``tests.fixtures``.

Test modules import helpers from ``tests.fixtures.*`` only, never from another test
module or a conftest (tests/test_test_layout.py enforces it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


class _HeldClock:
    """The ``time`` module, with ``time()`` held at the instant it was made."""

    def __init__(self) -> None:
        self._now = time.time()

    def time(self) -> float:
        return self._now

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture(autouse=True)
def _rate_windows_hold_still(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clock rate-limit windows read holds still for the test.

    Windows are django-ratelimit's fixed ones, each key's ending at its own second: a
    test's few requests that straddle that end start a new count, and a limit the test
    expects is not reached (CI saw the 4th of four logins at "3/m" answered 400). The
    windows, ``Retry-After`` and Redis's ``EXPIREAT`` all read this one instant, which
    is the real time the test started at.
    """
    import django_ratelimit.core

    from transcription_platform import ratelimit

    clock = _HeldClock()
    monkeypatch.setattr(django_ratelimit.core, "time", clock)
    monkeypatch.setattr(ratelimit, "time", clock)


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
