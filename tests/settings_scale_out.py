"""Settings of the processes of the scale-out test (tests/transcriptions/test_scale_out.py).

One web server and two ``qcluster`` processes, standing in for three machines: they
share only PostgreSQL (``DATABASE_URL``), django-q2's Redis broker
(``TP_Q_REDIS_URL``, queue ``TP_Q_NAME``) and an S3-compatible store (moto's server at
``TP_S3_ENDPOINT``, bucket ``TP_S3_BUCKET``) through django-storages. ``TP_MACHINE``
names the machine: the fake engine reports it as its model, so each chunk's result
says where it was transcribed.
"""

import os

from tests.settings import *  # noqa: F403
from tests.settings import TRANSCRIPTION_PLATFORM

MACHINE = os.environ.get("TP_MACHINE", "web")

Q_CLUSTER = {
    "name": os.environ["TP_Q_NAME"],
    "redis": os.environ["TP_Q_REDIS_URL"],
    "workers": 2,
    # A claim on a chunk expires after `timeout`: a dead machine's chunk is taken over.
    "timeout": 10,
    "max_attempts": 3,
    "catch_up": False,
    "ack_failures": True,
}

STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["TP_S3_BUCKET"],
            "endpoint_url": os.environ["TP_S3_ENDPOINT"],
            "access_key": "testing",
            "secret_key": "testing",  # moto accepts any credentials
            "region_name": "us-east-1",
            "default_acl": None,
            "file_overwrite": False,
        },
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

TRANSCRIPTION_PLATFORM = {
    **TRANSCRIPTION_PLATFORM,
    "ENGINES": {
        "default": {
            "BACKEND": "transcription_platform.engines.fake.FakeEngine",
            "OPTIONS": {"latency": 1.0, "model": f"fake-{MACHINE}"},
        }
    },
    "CHUNK_SECONDS": 8.0,
    "ANALYSIS_ENABLED": False,
    # Recovery re-enqueues a job without progress for this long (the Redis broker does
    # not re-deliver the task of a machine that died).
    "STUCK_AFTER_SECONDS": 5,
}
