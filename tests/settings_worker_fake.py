"""Settings for a real ``qcluster`` running the fake engine (fault-injection tests).

Like tests.settings_worker, but the fake engine (``TP_FAKE_LATENCY`` seconds per chunk,
spread over its segments; pid files in ``TP_PID_DIR``), short leases
(``TP_CLAIM_LEASE``), prices so the ledger has costs, webhooks allowed to loopback,
and a queue that would re-deliver a lost task only after ``TP_Q_RETRY`` seconds.
"""

import os

from tests.settings_worker import *  # noqa: F403
from tests.settings_worker import Q_CLUSTER, TRANSCRIPTION_PLATFORM

Q_CLUSTER = {**Q_CLUSTER, "workers": int(os.environ.get("TP_Q_WORKERS", "2"))}

TRANSCRIPTION_PLATFORM = {
    **TRANSCRIPTION_PLATFORM,
    "ENGINES": {
        "default": {
            "BACKEND": "tests.fixtures.engines.PidFileFakeEngine",
            "OPTIONS": {
                "pid_dir": os.environ.get("TP_PID_DIR", "/tmp"),
                "latency": float(os.environ.get("TP_FAKE_LATENCY", "0")),
            },
        }
    },
    "TASK_MAX_ATTEMPTS": int(os.environ.get("TP_TASK_MAX_ATTEMPTS", "5")),
    "TASK_RETRY_BACKOFF_SECONDS": 0.5,
    "PRICES": {"fake-1": [{"effective_from": "2020-01-01", "per_audio_minute": "0.6"}]},
    "RATE_LIMITS": {"transcription_create": None, "user": None},
    "WEBHOOK_ALLOWED_NETWORKS": ["127.0.0.0/8"],
    "WEBHOOK_ALLOWED_PORTS": None,
}
