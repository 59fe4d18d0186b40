"""The database unreachable (a closed loopback port) under the shipped gunicorn.

Policy (docs/operations.md, "Outages"): every operation answers 503
``service_unavailable`` in the error shape with ``Retry-After``, never a 500, and the
health endpoint answers 503 with ``"database": false``. The cache half of the policy
(rate limits fail open) is tested in test_cache_outage.py and here through the server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from ninja_jwt.settings import api_settings as jwt_settings
from ninja_jwt.tokens import AccessToken

from tests.fixtures.api import API
from tests.fixtures.gunicorn import gunicorn_server, manage
from tests.fixtures.ports import closed_loopback_port
from tests.fixtures.uploads import SPEECH_SAMPLE

pytestmark = pytest.mark.integration

#: A well-formed key nobody can check while the database is down.
API_KEY = "tp_0123456789ab_" + "x" * 43
JOB = "/transcriptions/3f1b2c4d-0000-4000-8000-000000000007"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("database-outage")
    env = {
        # Shared with this process, so a JWT minted here is valid there (the signature
        # is checked before the user is looked up in the missing database).
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_loopback_port()}/unreachable",
        "DJANGO_MEDIA_ROOT": str(tmp / "media"),
    }
    with gunicorn_server(tmp, env) as url:
        yield url


def access_token() -> str:
    token = AccessToken()
    token[jwt_settings.USER_ID_CLAIM] = 1
    return str(token)


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["code"] == "service_unavailable", response.text


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/transcriptions/", {"headers": {"Authorization": "Bearer {jwt}"}}),
        ("GET", "/transcriptions/", {"headers": {"X-API-Key": API_KEY}}),
        ("GET", "/auth/me/", {"headers": {"Authorization": f"Bearer {API_KEY}"}}),
        ("GET", JOB, {"headers": {"Authorization": "Bearer {jwt}"}}),
        ("POST", "/auth/login/", {"json": {"email": "a@example.com", "password": "pw"}}),
        (
            "POST",
            "/auth/registration/",
            {"json": {"email": "new@example.com", "password": "a-long-passphrase-1"}},
        ),
        ("POST", "/transcriptions/", {"headers": {"X-API-Key": API_KEY}, "upload": True}),
    ],
    ids=["list-jwt", "list-api-key", "me", "detail", "login", "registration", "upload"],
)
def test_operations_answer_503_with_retry_after(server, method, path, kwargs) -> None:
    kwargs = dict(kwargs)
    headers = {k: v.format(jwt=access_token()) for k, v in kwargs.pop("headers", {}).items()}
    if kwargs.pop("upload", False):
        kwargs["files"] = {"file": ("speech.wav", SPEECH_SAMPLE.read_bytes(), "audio/wav")}
    started = time.monotonic()
    response = httpx.request(method, f"{server}{API}{path}", headers=headers, timeout=30, **kwargs)
    assert_unavailable(response)
    # A refused connection is known at once: nobody waits for a timeout.
    assert time.monotonic() - started < 10


def test_the_openai_compatible_endpoint_answers_503_too(server) -> None:
    response = httpx.get(f"{server}/v1/models", headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1


def test_health_answers_503_with_database_false(server) -> None:
    response = httpx.get(f"{server}{API}/transcriptions/health/", timeout=30)
    assert response.status_code == 503, response.text
    assert response.json()["checks"]["database"] is False
    # Liveness does not depend on the database: the process is fine, restarting it
    # would not bring the database back.
    assert httpx.get(f"{server}/healthz").status_code == 200


@pytest.fixture(scope="module")
def server_without_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("cache-outage")
    env = {
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "DJANGO_MEDIA_ROOT": str(tmp / "media"),
    }
    manage(tmp, env, "migrate", "--noinput")  # before the cache goes: its checks refuse
    env["REDIS_URL"] = f"redis://127.0.0.1:{closed_loopback_port()}/0"
    with gunicorn_server(tmp, env) as url:
        yield url


def test_an_unreachable_cache_fails_open_through_the_server(server_without_cache) -> None:
    """Rate limits are not enforced (an error is logged); the request itself answers."""
    response = httpx.post(
        f"{server_without_cache}{API}/auth/login/",
        json={"email": "nobody@example.com", "password": "wrong"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_credentials"
    health = httpx.get(f"{server_without_cache}{API}/transcriptions/health/", timeout=30)
    assert health.status_code == 503
    assert health.json()["checks"]["cache"] is False
