"""Settings of the uvicorn and qcluster processes the tests start (tests.fixtures.servers).

The test project with an asynchronous cluster (the web process only enqueues) and a
fake engine that takes ``TP_FAKE_LATENCY`` seconds per chunk of 2.5 s.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import TRANSCRIPTION_PLATFORM

Q_CLUSTER = {
    "name": "tests",
    "orm": "default",
    "workers": 1,
    "timeout": 60,
    "retry": 70,
    "poll": 0.1,
    "catch_up": False,
}

TRANSCRIPTION_PLATFORM = {
    **TRANSCRIPTION_PLATFORM,
    "ENGINES": {
        "default": {
            "BACKEND": "transcription_platform.engines.fake.FakeEngine",
            "OPTIONS": {"latency": float(os.environ.get("TP_FAKE_LATENCY", "0.5"))},
        }
    },
    "CHUNK_SECONDS": 2.5,
    "OPENAI_COMPAT_WAIT_SECONDS": float(os.environ.get("TP_WAIT_SECONDS", "60")),
    "RATE_LIMITS": {"transcription_create": None, "user": None},
}

# The event streams' tuning, per process (tests/notifications/test_streams_asgi.py).
TRANSCRIPTION_PLATFORM["EVENTS_FANOUT"] = os.environ.get("TP_EVENTS_FANOUT", "auto")
TRANSCRIPTION_PLATFORM["EVENTS_KEEPALIVE_SECONDS"] = float(
    os.environ.get("TP_EVENTS_KEEPALIVE", "15")
)
TRANSCRIPTION_PLATFORM["EVENTS_POLL_SECONDS"] = float(os.environ.get("TP_EVENTS_POLL", "1"))
