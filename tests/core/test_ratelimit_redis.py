"""Rate limits on a real Redis: one round trip per counted request, same answers."""

from __future__ import annotations

import os
import uuid

import pytest
import redis
from django.core.cache import caches
from django.test import Client, override_settings

from tests.fixtures.api import API, assert_error, bearer_client

pytestmark = pytest.mark.django_db

#: The Redis CI starts (.ci/run); every test writes under a prefix of its own.
REDIS_URL = os.environ.get("TP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
URL = f"{API}/transcriptions/"


@pytest.fixture
def redis_cache():
    prefix = f"tp-test-{uuid.uuid4().hex}"
    config = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        pytest.fail(f"These tests need Redis at {REDIS_URL} (set TP_TEST_REDIS_URL).")
    with override_settings(CACHES=config):
        yield caches["default"]
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)


@pytest.fixture
def round_trips(monkeypatch):
    """Counts the commands (or pipelines) redis-py sends: one send, one round trip."""
    sent: list[int] = []
    original = redis.connection.Connection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(1)
        return original(self, command, check_health)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    return sent


def test_a_counted_request_costs_one_round_trip(user, redis_cache, round_trips, settings):
    settings.TRANSCRIPTION_PLATFORM = {"RATE_LIMITS": {"user": "100/m"}}
    client = bearer_client(user)
    assert client.get(URL).status_code == 200  # reads the user, caches the roles
    round_trips.clear()
    assert client.get(URL).status_code == 200
    assert len(round_trips) == 1


def test_the_limit_holds_and_the_counter_expires_with_its_window(user, redis_cache, settings):
    settings.TRANSCRIPTION_PLATFORM = {"RATE_LIMITS": {"user": "3/m"}}
    client = bearer_client(user)
    for _ in range(3):
        assert client.get(URL).status_code == 200
    response = client.get(URL)
    assert_error(response, 429, "rate_limited")
    assert 0 <= int(response["Retry-After"]) <= 60
    raw = redis.Redis.from_url(REDIS_URL)
    [key] = [k for k in raw.scan_iter(f"{redis_cache.key_prefix}:*") if b"rl:" in k]
    assert int(raw.get(key)) == 4
    assert 0 < raw.ttl(key) <= 60 + 5


def test_wrong_api_keys_are_refused_up_front_once_counted_on_redis(user, redis_cache, settings):
    # refuse_failing_client reads (GET) the counter the pipelined INCR writes.
    settings.TRANSCRIPTION_PLATFORM = {
        "RATE_LIMITS": {"auth_failure": "2/h", "user": None, "anon": None}
    }
    key = (
        bearer_client(user)
        .post(f"{API}/auth/api-keys/", {"name": "ci"}, content_type="application/json")
        .json()["key"]
    )
    wrong = Client(HTTP_X_API_KEY="tp_0123456789abcdef_wrong")
    assert [wrong.get(URL).status_code for _ in range(4)] == [401, 401, 429, 429]
    raw = redis.Redis.from_url(REDIS_URL)
    [counter] = [k for k in raw.scan_iter(f"{redis_cache.key_prefix}:*") if b"rl:" in k]
    assert int(raw.get(counter)) == 2  # the refused ones were not counted
    # The right key from the same address waits too; another address does not.
    assert_error(Client(HTTP_X_API_KEY=key).get(URL), 429, "rate_limited")
    other = Client(HTTP_X_API_KEY=key, REMOTE_ADDR="127.0.0.2")
    assert other.get(URL).status_code == 200


def test_the_redis_client_is_built_once_per_cache(user, redis_cache, settings):
    settings.TRANSCRIPTION_PLATFORM = {"RATE_LIMITS": {"user": "100/m"}}
    from transcription_platform import ratelimit

    first = ratelimit._redis_client(redis_cache, "k")
    assert ratelimit._redis_client(redis_cache, "k") is first
    client = bearer_client(user)
    assert client.get(URL).status_code == 200
    assert ratelimit._redis_client(caches["default"], "k") is first
