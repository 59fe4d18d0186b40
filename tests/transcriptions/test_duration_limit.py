"""The duration limit holds for what decodes, not for what a header claims.

Files crafted here, at test time: a FLAC whose STREAMINFO says 1 s and an MP3 whose
Xing frame count says 0.2 s, both holding a minute of audio; a silent FLAC far longer
than its size allows. The upload probe believes the header (it reads no further); the
worker's planning pass must stop decoding past the limit, fail the job with
``audio_too_long`` and charge nothing.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.fixtures.api import API, assert_error
from tests.fixtures.audio import write_audio
from tests.fixtures.billing import platform
from tests.fixtures.uploads import upload
from transcription_platform.billing.models import Reservation, ReservationStatus, UsageRecord
from transcription_platform.engines import probe
from transcription_platform.engines.audio import plan_chunks
from transcription_platform.engines.errors import InvalidAudio
from transcription_platform.transcriptions.models import Transcription, TranscriptionChunk

pytestmark = pytest.mark.django_db

HELD_SECONDS = 60
LIMIT = 20


def flac_claiming(path: Path, claimed_seconds: float, parts) -> Path:
    """A FLAC of ``parts`` whose STREAMINFO total-samples field says ``claimed_seconds``."""
    write_audio(path, parts, rate=16_000, channels=1)
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    assert data[4] & 0x7F == 0
    # Bytes 18-25: sample rate (20 bits), channels (3), bits per sample (5), then the
    # total sample count (36 bits).
    (packed,) = struct.unpack(">Q", data[18:26])
    mask = (1 << 36) - 1
    packed = (packed & ~mask) | round(claimed_seconds * 16_000)
    data[18:26] = struct.pack(">Q", packed)
    path.write_bytes(data)
    return path


def mp3_claiming(path: Path, claimed_frames: int, parts) -> Path:
    """An MP3 of ``parts`` whose Xing/Info header counts ``claimed_frames`` frames."""
    write_audio(path, parts, rate=16_000, channels=1)
    data = bytearray(path.read_bytes())
    at = max(data.find(b"Xing"), data.find(b"Info"))
    assert at > 0
    (flags,) = struct.unpack(">I", data[at + 4 : at + 8])
    assert flags & 1  # the frame count is present
    data[at + 8 : at + 12] = struct.pack(">I", claimed_frames)
    path.write_bytes(data)
    return path


@pytest.fixture
def lying_flac(tmp_path) -> Path:
    return flac_claiming(tmp_path / "lie.flac", 1.0, [(HELD_SECONDS, 440)])


@pytest.fixture
def lying_mp3(tmp_path) -> Path:
    return mp3_claiming(tmp_path / "lie.mp3", 8, [(HELD_SECONDS, 440)])


@pytest.fixture
def billed(settings):
    """Billing with a price for the fake engine and a monthly budget to reserve from."""
    settings.TRANSCRIPTION_PLATFORM = platform(
        MAX_DURATION_SECONDS=LIMIT,
        BILLING_DEFAULT_LIMITS={"monthly_audio_seconds": 3600},
    )
    return settings


def test_the_crafted_headers_lie_to_the_probe(lying_flac, lying_mp3):
    assert probe(lying_flac).duration == pytest.approx(1.0)
    assert probe(lying_mp3).duration < 0.5


@pytest.mark.parametrize("name", ["lying_flac", "lying_mp3"])
def test_planning_stops_decoding_just_past_the_limit(name, request):
    path = request.getfixturevalue(name)
    with pytest.raises(InvalidAudio) as refused:
        plan_chunks(path, 30, max_seconds=LIMIT)
    assert refused.value.code == "audio_too_long"
    # It stopped within a block of the limit instead of decoding the whole minute.
    assert LIMIT < refused.value.details["decoded_seconds"] < LIMIT + 1
    assert plan_chunks(path, 30)[-1].end == pytest.approx(HELD_SECONDS, abs=0.1)


@pytest.mark.parametrize("name", ["lying_flac", "lying_mp3"])
def test_a_lying_header_is_accepted_then_the_job_fails_audio_too_long_uncharged(
    name, request, billed, auth_client, media_root, django_capture_on_commit_callbacks
):
    path = request.getfixturevalue(name)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(auth_client, path)
    assert response.status_code == 201, response.content  # the header claims ~1 s
    job = auth_client.get(f"{API}/transcriptions/{response.json()['id']}").json()
    assert job["status"] == "failed"
    assert job["error"]["code"] == "audio_too_long"
    assert f"{LIMIT} s" in job["error"]["message"]
    transcription = Transcription.objects.get()
    assert not TranscriptionChunk.objects.filter(transcription=transcription).exists()
    # Nothing charged: the reservation made on the header's claim is released.
    assert Reservation.objects.get().status == ReservationStatus.RELEASED
    assert not UsageRecord.objects.exists()


def test_a_file_holding_more_audio_than_its_size_allows_fails_where_decoding_passes_it(
    tmp_path, billed, auth_client, media_root, django_capture_on_commit_callbacks
):
    # 600 s of digital silence in FLAC is ~114 KB (~190 bytes a second); its header
    # says 1 s. At 1000 bytes a second the file may hold ~114 s: decoding stops there.
    silent = flac_claiming(tmp_path / "silent.flac", 1.0, [(600, None)])
    size = silent.stat().st_size
    billed.TRANSCRIPTION_PLATFORM = platform(
        MAX_DURATION_SECONDS=3600, MIN_BYTES_PER_AUDIO_SECOND=1000
    )
    with pytest.raises(InvalidAudio) as refused:
        plan_chunks(silent, 30, max_seconds=size / 1000)
    assert refused.value.details["decoded_seconds"] < size / 1000 + 1
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(auth_client, silent)
    assert response.status_code == 201, response.content
    transcription = Transcription.objects.get()
    assert transcription.status == "failed"
    assert transcription.error_code == "audio_too_long"


def test_an_honest_header_over_the_per_byte_bound_is_refused_at_upload(
    tmp_path, settings, auth_client, media_root
):
    silent = write_audio(tmp_path / "silent.flac", [(600, None)], rate=16_000, channels=1)
    settings.TRANSCRIPTION_PLATFORM = platform(MIN_BYTES_PER_AUDIO_SECOND=1000)
    error = assert_error(upload(auth_client, silent), 400, "audio_too_long")
    assert error["details"]["max_duration"] == pytest.approx(silent.stat().st_size / 1000)
    assert not Transcription.objects.exists()
    assert not list(Path(media_root).rglob("*.flac"))


def test_a_lying_header_cannot_slip_past_a_budget(
    lying_flac, settings, auth_client, media_root, django_capture_on_commit_callbacks
):
    """The create reserved the header's 1 s; the decoded minute is checked against the
    budget when the worker plans the chunks, and refused there."""
    from transcription_platform.billing.signals import quota_exceeded

    settings.TRANSCRIPTION_PLATFORM = platform(BILLING_DEFAULT_LIMITS={"monthly_audio_seconds": 30})
    refusals = []

    def receiver(sender, user, details, **kwargs):
        refusals.append(details)

    quota_exceeded.connect(receiver, weak=False)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = upload(auth_client, lying_flac)
    finally:
        quota_exceeded.disconnect(receiver)
    assert response.status_code == 201, response.content
    transcription = Transcription.objects.get()
    assert transcription.status == "failed"
    assert transcription.error_code == "quota_exceeded"
    assert "longer than its header said" in transcription.error_message
    assert [r["limit"] for r in refusals] == ["monthly_audio_seconds"]
    assert Reservation.objects.get().status == ReservationStatus.RELEASED
    assert not UsageRecord.objects.exists()


def test_within_budget_the_reservation_grows_to_the_decoded_length(
    lying_flac, settings, auth_client, media_root, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.TRANSCRIPTION_PLATFORM = platform(
        BILLING_DEFAULT_LIMITS={"monthly_audio_seconds": 3600}
    )
    with (
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert upload(auth_client, lying_flac).status_code == 201
    transcription = Transcription.objects.get()
    assert transcription.status == "completed"
    assert any(
        "UPDATE" in q["sql"] and "billing_reservation" in q["sql"] and "audio_seconds" in q["sql"]
        for q in queries.captured_queries
    )
    record = UsageRecord.objects.get()
    assert float(record.audio_seconds) == pytest.approx(HELD_SECONDS, abs=0.1)
    assert Reservation.objects.get().status == ReservationStatus.SETTLED


def test_a_retry_is_budgeted_again(
    lying_flac, settings, auth_client, media_root, django_capture_on_commit_callbacks
):
    """A failed job's reservation was released; retrying it must not run unbudgeted."""
    settings.TRANSCRIPTION_PLATFORM = platform(BILLING_DEFAULT_LIMITS={"monthly_audio_seconds": 30})
    with django_capture_on_commit_callbacks(execute=True):
        pk = upload(auth_client, lying_flac).json()["id"]
    assert Transcription.objects.get(pk=pk).error_code == "quota_exceeded"
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.post(f"{API}/transcriptions/{pk}/retry").status_code == 200
    again = Transcription.objects.get(pk=pk)
    assert (again.status, again.error_code) == ("failed", "quota_exceeded")
    assert not UsageRecord.objects.exists()
    assert Reservation.objects.get().status == ReservationStatus.RELEASED

    # With room in the budget the retry is reserved again, runs and is billed once.
    settings.TRANSCRIPTION_PLATFORM = platform(
        BILLING_DEFAULT_LIMITS={"monthly_audio_seconds": 3600}
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.post(f"{API}/transcriptions/{pk}/retry").status_code == 200
    assert Transcription.objects.get(pk=pk).status == "completed"
    assert UsageRecord.objects.count() == 1
    assert Reservation.objects.get().status == ReservationStatus.SETTLED
