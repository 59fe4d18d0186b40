"""Reads ("viewed") are audited by the batch writer, off the request's path."""

from __future__ import annotations

import time

import pytest

from tests.fixtures.api import API, bearer_client
from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.users import make_user
from transcription_platform.audit.models import AuditLog
from transcription_platform.audit.services import flush_deferred_entries, log_action

# Committed rows: the writer's thread has a connection of its own.
pytestmark = pytest.mark.django_db(transaction=True)


def test_views_are_written_in_a_batch_with_actor_object_and_time() -> None:
    user = make_user("reader")
    transcription = make_transcription(user, "completed")
    client = bearer_client(user)
    before = time.time()
    for _ in range(3):
        assert client.get(f"{API}/transcriptions/{transcription.pk}").status_code == 200
    flush_deferred_entries()
    views = list(AuditLog.objects.filter(action="viewed").order_by("created_at"))
    assert len(views) == 3
    for entry in views:
        assert (entry.actor, entry.object_id) == (user, str(transcription.pk))
        assert entry.object_type == "transcription_platform_transcriptions.transcription"
        assert entry.ip == "127.0.0.1"
        assert entry.created_at.timestamp() >= before - 1


def test_the_writer_thread_flushes_on_its_own(settings) -> None:
    settings.TRANSCRIPTION_PLATFORM = {"AUDIT_DEFERRED_FLUSH_SECONDS": 0.1}
    user = make_user("reader")
    entry = log_action("viewed", actor=user, object_id=7, deferred=True)
    assert entry is not None
    assert entry.pk is None  # handed to the writer, not written by the caller
    deadline = time.monotonic() + 10
    while not AuditLog.objects.filter(action="viewed").exists():
        assert time.monotonic() < deadline, "the batch writer wrote nothing within 10 s"
        time.sleep(0.05)


def test_inside_a_transaction_the_entry_is_written_at_once() -> None:
    from django.db import transaction

    user = make_user("reader")
    with transaction.atomic():
        entry = log_action("viewed", actor=user, object_id=7, deferred=True)
        assert entry is not None
        assert entry.pk is not None
