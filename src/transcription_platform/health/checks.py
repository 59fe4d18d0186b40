"""Built-in health checks. A check is a callable returning ``True`` when healthy;
returning ``False`` or raising counts as unhealthy. Add your own to
``TRANSCRIPTION_PLATFORM["HEALTH_CHECKS"]`` as dotted paths.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.core.cache import cache as default_cache
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection
from django.utils import timezone

from transcription_platform.conf import settings


def database() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return bool(cursor.fetchone() == (1,))


def cache() -> bool:
    key = f"transcription_platform:health:{uuid.uuid4().hex}"
    default_cache.set(key, "ok", 30)
    try:
        return bool(default_cache.get(key) == "ok")
    finally:
        default_cache.delete(key)


def storage() -> bool:
    """Write, read back and delete a tiny file in the audio storage."""
    store = storages[settings.AUDIO_STORAGE]
    name = store.save(f"health/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with store.open(name, "rb") as handle:
            return bool(handle.read() == b"ok")
    finally:
        store.delete(name)


def worker() -> bool:
    """A cluster ran the heartbeat task within WORKER_HEARTBEAT_MAX_AGE seconds."""
    from transcription_platform.health.models import WorkerHeartbeat

    cutoff = timezone.now() - timedelta(seconds=settings.WORKER_HEARTBEAT_MAX_AGE)
    return WorkerHeartbeat.objects.filter(last_seen__gte=cutoff).exists()
