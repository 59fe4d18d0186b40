"""50 concurrent creates against a budget of exactly 10 jobs: 10 accepted, 40 refused.

Real threads, each on its own PostgreSQL connection, through the create service the
upload endpoint calls (``create_from_file``: validation, probe, storage, the row and the
reservation inside its transaction).
"""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection, connections

from tests.fixtures.billing import platform
from transcription_platform.billing.models import Budget, Reservation, ReservationStatus
from transcription_platform.billing.services import QuotaExceeded
from transcription_platform.transcriptions import services
from transcription_platform.transcriptions.models import Transcription

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CREATES = 50
JOB_SECONDS = 6


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks under real concurrency need PostgreSQL")


def hammer(owners, wav) -> tuple[int, int, list[BaseException]]:
    """CREATES threads, started together, cycling through ``owners``."""
    barrier = threading.Barrier(CREATES)
    accepted, refused, errors = [], [], []

    def create(owner) -> None:
        try:
            barrier.wait()
            services.create_from_file(
                owner,
                services.AudioFile(
                    path=wav,
                    name="six.wav",
                    size_bytes=wav.stat().st_size,
                    content_type="audio/wav",
                ),
                enqueue=False,
            )
            accepted.append(owner.pk)
        except QuotaExceeded:
            refused.append(owner.pk)
        except BaseException as exc:  # reported below: the test must see every outcome
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=create, args=(owners[i % len(owners)],)) for i in range(CREATES)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return len(accepted), len(refused), errors


def assert_consistent(accepted: int) -> None:
    assert Transcription.objects.count() == accepted
    reservations = Reservation.objects.filter(status=ReservationStatus.RESERVED)
    assert reservations.count() == accepted
    assert set(reservations.values_list("transcription_id", flat=True)) == {
        str(pk) for pk in Transcription.objects.values_list("pk", flat=True)
    }
    total = sum(r.audio_seconds for r in reservations)
    assert total == Decimal(JOB_SECONDS * accepted)


def test_one_user_fifty_creates_ten_jobs_of_budget(settings, user, wav):
    settings.TRANSCRIPTION_PLATFORM = platform(
        BILLING_DEFAULT_LIMITS={"monthly_audio_seconds": JOB_SECONDS * 10}
    )
    accepted, refused, errors = hammer([user], wav)
    assert errors == []
    assert (accepted, refused) == (10, 40)
    assert_consistent(10)


def test_two_users_sharing_a_group_budget(user, other_user, wav):
    group = Group.objects.create(name="shared")
    group.user_set.add(user, other_user)
    Budget.objects.create(group=group, monthly_audio_seconds=JOB_SECONDS * 10)
    accepted, refused, errors = hammer([user, other_user], wav)
    assert errors == []
    assert (accepted, refused) == (10, 40)
    assert_consistent(10)


def test_concurrent_jobs_limit_holds_under_contention(settings, user, wav):
    settings.TRANSCRIPTION_PLATFORM = platform(BILLING_DEFAULT_LIMITS={"concurrent_jobs": 10})
    accepted, refused, errors = hammer([user], wav)
    assert errors == []
    assert (accepted, refused) == (10, 40)
    assert_consistent(10)
