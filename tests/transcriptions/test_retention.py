from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from tests.fixtures.storage import stored_files
from tests.fixtures.uploads import upload
from transcription_platform.transcriptions.models import Transcription, TranscriptionStatus

pytestmark = pytest.mark.django_db


def aged(pk, days: int, status: str) -> None:
    Transcription.objects.filter(pk=pk).update(
        created_at=timezone.now() - timedelta(days=days), status=status
    )


def run(*args: str) -> str:
    out = StringIO()
    call_command("purge_transcriptions", *args, stdout=out)
    return out.getvalue()


def test_purges_old_finished_transcriptions_and_their_audio(
    auth_client, tone_wav, media_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        old_done = upload(auth_client, tone_wav).json()["id"]
        old_running = upload(auth_client, tone_wav).json()["id"]
        recent = upload(auth_client, tone_wav).json()["id"]
    aged(old_done, 40, TranscriptionStatus.COMPLETED)
    aged(old_running, 40, TranscriptionStatus.PROCESSING)
    aged(recent, 5, TranscriptionStatus.FAILED)

    with override_settings(TRANSCRIPTION_PLATFORM={"RETENTION_DAYS": 30}):
        assert "Would delete 1 transcriptions" in run("--dry-run")
        assert len(stored_files(media_root)) == 3
        with django_capture_on_commit_callbacks(execute=True):
            assert "Deleted 1 " in run()

    assert set(Transcription.objects.values_list("pk", flat=True)) == {
        Transcription.objects.get(pk=old_running).pk,
        Transcription.objects.get(pk=recent).pk,
    }
    assert len(stored_files(media_root)) == 2
    from transcription_platform.audit.models import AuditLog

    entry = AuditLog.objects.get(action="deleted")
    assert entry.meta == {"reason": "retention"}


def test_days_option_and_none_keeps_everything(user):
    assert "kept until deleted" in run()
    with pytest.raises(CommandError):
        run("--days", "0")
    assert "Deleted 0 " in run("--days", "1")
