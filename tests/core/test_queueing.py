"""Work that must wait, one way: claims by conditional UPDATE, tasks now or at time T."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from tests.fixtures.transcriptions import make_transcription
from transcription_platform.queueing import claim_expiry, enqueue_task
from transcription_platform.transcriptions.models import ChunkStatus, TranscriptionChunk
from transcription_platform.transcriptions.tasks import CHUNK_CLAIMS

pytestmark = pytest.mark.django_db


@pytest.fixture
def chunk(user):
    transcription = make_transcription(
        user,
        engine="default",
        size_bytes=1,
    )
    return TranscriptionChunk.objects.create(transcription=transcription, index=0, start=0, end=1)


def rows(chunk):
    return TranscriptionChunk.objects.filter(pk=chunk.pk)


def test_only_one_of_two_claims_wins(chunk):
    first = CHUNK_CLAIMS.take(rows(chunk), attempts=F("attempts") + 1)
    second = CHUNK_CLAIMS.take(rows(chunk), attempts=F("attempts") + 1)
    assert first is not None
    assert second is None
    chunk.refresh_from_db()
    assert (chunk.status, chunk.claimed_at, chunk.attempts) == (ChunkStatus.RUNNING, first, 1)


def test_an_expired_claim_is_taken_over_and_the_old_run_changes_nothing(chunk):
    stale = timezone.now() - claim_expiry() - timedelta(seconds=1)
    rows(chunk).update(status=ChunkStatus.RUNNING, claimed_at=stale)
    taken = CHUNK_CLAIMS.take(rows(chunk))
    assert taken is not None
    # The run that held the expired claim can no longer finish or release the chunk.
    assert CHUNK_CLAIMS.held_by(rows(chunk), stale).update(status=ChunkStatus.DONE) == 0
    assert CHUNK_CLAIMS.held_by(rows(chunk), taken).update(status=ChunkStatus.DONE) == 1


def test_finished_work_is_not_claimable(chunk):
    rows(chunk).update(status=ChunkStatus.DONE)
    assert CHUNK_CLAIMS.take(rows(chunk)) is None


def test_later_is_a_one_off_schedule_in_the_callers_transaction(chunk):
    from django_q.models import Schedule

    before = timezone.now()
    enqueue_task(
        "transcription_platform.transcriptions.tasks.transcribe_chunk",
        str(chunk.transcription_id),
        0,
        task_name="transcribe:x:0",
        model=TranscriptionChunk,
        delay=30,
    )
    [scheduled] = Schedule.objects.filter(name__startswith="transcribe:x:0")
    assert scheduled.schedule_type == Schedule.ONCE
    assert scheduled.repeats == -1
    assert scheduled.next_run >= before + timedelta(seconds=30)
    assert scheduled.func.endswith(".transcribe_chunk")
