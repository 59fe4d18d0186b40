"""Settings for a real ``qcluster`` process started by the integration tests.

Same project as tests.settings (audio under TP_TEST_MEDIA), but an asynchronous
cluster (2 workers, short timeout/retry so a killed worker's task is re-delivered
quickly) and the local engine.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import TRANSCRIPTION_PLATFORM

Q_CLUSTER = {
    "name": "tests",  # the queue the test process enqueues to (django-q2 reads it at import)
    "orm": "default",
    "workers": 2,
    "timeout": int(os.environ.get("TP_Q_TIMEOUT", "60")),
    "retry": int(os.environ.get("TP_Q_RETRY", "70")),
    "max_attempts": 3,
    "poll": 0.2,
    "catch_up": False,
    "ack_failures": True,
}

TRANSCRIPTION_PLATFORM = {
    **TRANSCRIPTION_PLATFORM,
    "ENGINES": {
        "default": {
            "BACKEND": "transcription_platform.engines.faster_whisper.FasterWhisperEngine",
            "OPTIONS": {"cpu_threads": 1, "beam_size": 1},
        }
    },
    "CHUNK_SECONDS": float(os.environ.get("TP_CHUNK_SECONDS", "30")),
    "CLAIM_LEASE_SECONDS": float(os.environ.get("TP_CLAIM_LEASE", "60")),
}
