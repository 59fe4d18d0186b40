"""50 concurrent creates carrying one Idempotency-Key → exactly one transcription.

Real threads, each on its own database connection, through the create service the
upload endpoint calls. The race this guards: a request that found no row released
the key of a row another request had just committed (the "release an expired key"
UPDATE ignored the expiry), then inserted a second transcription.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, connections
from django.utils import timezone

from tests.fixtures.storage import stored_files
from tests.fixtures.users import make_user
from transcription_platform.transcriptions import services
from transcription_platform.transcriptions.models import Transcription

pytestmark = pytest.mark.django_db(transaction=True)

CREATES = 50
ROUNDS = 3


def create_concurrently(owner, wav, key: str) -> tuple[list, list[BaseException]]:
    """CREATES threads, released together, each creating with ``key``."""
    barrier = threading.Barrier(CREATES)
    results, errors = [], []

    def create() -> None:
        try:
            barrier.wait()
            for attempt in range(50):
                try:
                    results.append(
                        services.create_from_file(
                            owner,
                            services.AudioFile(
                                path=wav, name="tone.wav", size_bytes=wav.stat().st_size
                            ),
                            idempotency_key=key,
                            enqueue=False,
                        )
                    )
                    return
                except OperationalError:
                    # SQLite only: the in-memory test database's shared cache answers
                    # "table is locked" instead of waiting; a real SQLite site waits
                    # (busy timeout). Writes stay serialised either way.
                    if connection.vendor != "sqlite" or attempt == 49:
                        raise
                    threading.Event().wait(0.02)
        except BaseException as exc:  # reported below: the test must see every outcome
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create) for _ in range(CREATES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_key_fifty_concurrent_creates_make_one_transcription(round_, tone_wav, media_root):
    owner = make_user(f"racer{round_}")
    results, errors = create_concurrently(owner, tone_wav, key=f"race-{round_}")
    assert errors == []
    assert len(results) == CREATES
    assert Transcription.objects.filter(owner=owner).count() == 1
    only = Transcription.objects.get(owner=owner)
    assert {transcription.pk for transcription, _ in results} == {only.pk}
    assert sum(created for _, created in results) == 1
    # Every loser's stored file was removed: one file, the winner's.
    assert [p.name for p in stored_files(media_root)] == [only.audio.name.rsplit("/", 1)[-1]]


def test_an_expired_key_is_released_once_for_a_new_transcription(tone_wav, media_root, settings):
    owner = make_user("expired-racer")
    old, _ = services.create_from_file(
        owner,
        services.AudioFile(path=tone_wav, name="tone.wav", size_bytes=tone_wav.stat().st_size),
        idempotency_key="reused",
        enqueue=False,
    )
    Transcription.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    results, errors = create_concurrently(owner, tone_wav, key="reused")
    assert errors == []
    new = {transcription.pk for transcription, _ in results}
    assert len(new) == 1
    assert old.pk not in new
    assert sum(created for _, created in results) == 1
    assert Transcription.objects.filter(owner=owner).count() == 2
    old.refresh_from_db()
    assert old.idempotency_key == ""  # released to the new row
