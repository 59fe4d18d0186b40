"""Rate limits under concurrency (issue 12, item 12).

Redis counts with one atomic INCR: of 50 requests released at once against a limit of
10, exactly 10 get in. Caches that count with a read-then-write (FileBasedCache, DatabaseCache)
over-admit — FileBasedCache let all 50 through in each of 5 rounds here — so the
library does not call them fit for limits: ``check --deploy`` warns (W013,
tests/test_checks.py) and docs/operations.md#cache says why.
"""

from __future__ import annotations

import os
import threading
import uuid

from django.test import RequestFactory

from transcription_platform.exceptions import RateLimited
from transcription_platform.ratelimit import check_rate_limit

REQUESTS = 50
LIMIT = 10


def _admitted() -> int:
    start = threading.Barrier(REQUESTS)
    admitted: list[bool] = []
    lock = threading.Lock()

    def one_request() -> None:
        request = RequestFactory().get("/")
        start.wait()
        try:
            check_rate_limit(request, "burst", key="one-caller")
            outcome = True
        except RateLimited:
            outcome = False
        with lock:
            admitted.append(outcome)

    threads = [threading.Thread(target=one_request) for _ in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(admitted) == REQUESTS
    return sum(admitted)


def test_redis_admits_exactly_the_limit_under_concurrency(settings):
    # All through pytest-django's fixture, which restores them in the reverse order.
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "RATE_LIMITS": {"burst": f"{LIMIT}/h"},
    }
    settings.CACHES = {
        **settings.CACHES,
        "limits": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ.get("TP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
            "KEY_PREFIX": f"tp-burst-{uuid.uuid4().hex}",  # no other run's counters
        },
    }
    settings.RATELIMIT_USE_CACHE = "limits"
    assert _admitted() == LIMIT
