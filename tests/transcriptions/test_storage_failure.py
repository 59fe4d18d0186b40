"""Disk-full faults, injected for real: the process's file-size limit (RLIMIT_FSIZE)
makes writes fail with EFBIG after 64 KiB, as a full disk fails them half-way.

* The storage write of the create (what the API runs once the upload is received):
  ``storage_unavailable`` (503), no row, no partial file, nothing reserved.
* The upload's own spooling to a temporary file: the same 503, never a 500.
"""

from __future__ import annotations

import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.fixtures.api import API, assert_error
from tests.fixtures.audio import write_audio
from tests.fixtures.storage import stored_files
from tests.fixtures.uploads import upload
from tests.fixtures.users import make_user
from transcription_platform.billing.models import Reservation
from transcription_platform.transcriptions import services
from transcription_platform.transcriptions.models import Transcription

pytestmark = pytest.mark.django_db

LIMIT = 64 * 1024


@contextmanager
def disk_full_after(limit: int) -> Iterator[None]:
    """Writes of this process fail past ``limit`` bytes into a file (EFBIG)."""
    previous_limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, previous_limits[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, previous_limits)
        signal.signal(signal.SIGXFSZ, previous_handler)


@pytest.fixture
def audio(tmp_path):
    path = write_audio(tmp_path / "tone.wav", [(6.0, 440)], rate=16_000, channels=1)
    assert path.stat().st_size > 2 * LIMIT
    return path


def test_a_storage_write_failing_half_way_leaves_no_row_and_no_partial_file(
    audio, media_root, settings
):
    from tests.fixtures.billing import platform

    settings.TRANSCRIPTION_PLATFORM = platform(
        BILLING_DEFAULT_LIMITS={"monthly_audio_seconds": 3600}
    )
    owner = make_user("full-disk")
    file = services.AudioFile(path=audio, name="tone.wav", size_bytes=audio.stat().st_size)
    with disk_full_after(LIMIT), pytest.raises(services.StorageUnavailable) as failed:
        services.create_from_file(owner, file, enqueue=False)
    assert failed.value.status_code == 503
    assert failed.value.code == "storage_unavailable"
    assert not Transcription.objects.exists()
    assert not Reservation.objects.exists()
    assert stored_files(media_root) == []  # the 64 KiB written were removed
    # Once the disk has room again, the same file is accepted.
    transcription, created = services.create_from_file(owner, file, enqueue=False)
    assert created
    assert [p.name for p in stored_files(media_root)] == [f"{transcription.pk}.wav"]


def test_an_upload_that_cannot_be_spooled_is_a_503_not_a_500(auth_client, audio, media_root):
    with disk_full_after(LIMIT):
        response = upload(auth_client, audio)
    assert_error(response, 503, "storage_unavailable")
    assert not Transcription.objects.exists()
    assert stored_files(media_root) == []
    assert upload(auth_client, audio).status_code == 201
    assert auth_client.get(f"{API}/transcriptions/").json()["count"] == 1
