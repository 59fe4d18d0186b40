"""A cache that cannot be used: missing client library or unreachable server.

Policy (docs/settings.md): rate limits and the role cache fail open with an error log;
the health endpoint answers 503 with ``"cache": false``; start-up checks refuse.
"""

from __future__ import annotations

import logging
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings

from tests.fixtures.api import API, bearer_client
from tests.fixtures.ports import closed_loopback_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def unreachable_redis_cache():
    location = f"redis://127.0.0.1:{closed_loopback_port()}/0"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    with override_settings(CACHES=caches):
        yield


@pytest.fixture
def redis_package_missing(monkeypatch):
    """As if ``redis`` were not installed: imports and find_spec both fail."""
    for name in [n for n in sys.modules if n == "redis" or n.startswith("redis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
        }
    }
    with override_settings(CACHES=caches):
        yield


@pytest.mark.usefixtures("unreachable_redis_cache")
def test_an_unreachable_cache_fails_open_for_requests(user, caplog) -> None:
    client = bearer_client(user)
    with caplog.at_level(logging.ERROR):
        response = client.get(f"{API}/transcriptions/")
    assert response.status_code == 200, response.content
    assert any("not enforced" in r.getMessage() for r in caplog.records)


@pytest.mark.usefixtures("unreachable_redis_cache")
def test_an_unreachable_cache_makes_health_503(client: Client) -> None:
    response = client.get(f"{API}/transcriptions/health/")
    assert response.status_code == 503, response.content
    assert response.json()["checks"]["cache"] is False


@pytest.mark.usefixtures("unreachable_redis_cache")
def test_an_unreachable_cache_refuses_start_up(capsys) -> None:
    with pytest.raises(CommandError):
        call_command("startup_checks")
    assert "transcription_platform.E016" in capsys.readouterr().err


@pytest.mark.usefixtures("redis_package_missing")
def test_a_missing_redis_package_is_a_start_up_error_naming_the_extra(user, capsys) -> None:
    with pytest.raises(CommandError):
        call_command("startup_checks")
    err = capsys.readouterr().err
    assert "transcription_platform.E015" in err
    assert 'pip install "transcription-platform[redis]"' in err
    # And while it runs anyway, requests answer, health says why.
    assert bearer_client(user).get(f"{API}/transcriptions/").status_code == 200
    health = Client().get(f"{API}/transcriptions/health/")
    assert health.status_code == 503
    assert health.json()["checks"]["cache"] is False
