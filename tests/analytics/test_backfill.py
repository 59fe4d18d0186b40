"""``manage.py analytics_backfill`` records existing data once, however often it runs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command

from tests.fixtures.analytics import utc
from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.users import make_user
from transcription_platform.analytics import services
from transcription_platform.analytics.models import ActiveDay, Event, UserStats

pytestmark = pytest.mark.django_db


@pytest.fixture
def existing_data(settings):
    """Users, jobs and a ledger record made before the app listened (no signals)."""
    from transcription_platform.billing.models import UsageRecord

    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "ANALYTICS_PRICE_PER_MINUTE": "0.02",
        "ANALYTICS_CACHE_SECONDS": 0,
    }
    old = make_user("old", date_joined=utc(2026, 1, 5, 9, 0))
    make_user("idle", date_joined=utc(2026, 1, 6, 9, 0))
    done = make_transcription(
        old,
        "completed",
        created_at=utc(2026, 1, 7, 9, 0),
        started_at=utc(2026, 1, 7, 9, 0),
        completed_at=utc(2026, 1, 7, 9, 1),
        duration=90,
        engine="default",
        model="fake-1",
    )
    make_transcription(
        old,
        "failed",
        created_at=utc(2026, 1, 14, 9, 0),
        completed_at=utc(2026, 1, 14, 9, 2),
        error_code="corrupt_audio",
        engine="default",
        model="fake-1",
    )
    make_transcription(old, "pending", created_at=utc(2026, 1, 15, 9, 0), engine="default")
    UsageRecord.objects.create(
        owner=old,
        owner_label="old",
        object_type="transcription",
        object_id=str(done.pk),
        step="transcription",
        idempotency_key=f"transcription:{done.pk}",
        alias="default",
        model="fake-1",
        audio_seconds=Decimal(90),
        cost=Decimal("0.009"),
        currency="USD",
        created_at=utc(2026, 1, 7, 9, 1),
    )
    return old


def _counts() -> tuple[int, int, int]:
    return Event.objects.count(), ActiveDay.objects.count(), UserStats.objects.count()


def test_backfill_is_idempotent(existing_data, capsys) -> None:
    call_command("analytics_backfill")
    assert capsys.readouterr().out == (
        "Backfilled: 2 signups, 3 transcriptions, 1 completed, 1 failed, 1 usage.\n"
    )
    # 2 signups + 3 created + 1 completed + 1 failed + 1 usage; active on 5, 6 (idle),
    # 7, 14 and 15 January.
    assert _counts() == (8, 5, 2)
    stats = UserStats.objects.get(pk=existing_data.pk)
    assert (stats.transcriptions, stats.completed, stats.failed, stats.active_days) == (
        3,
        1,
        1,
        4,
    )
    assert stats.activated_at == utc(2026, 1, 7, 9, 1)

    call_command("analytics_backfill")
    assert capsys.readouterr().out == (
        "Backfilled: 0 signups, 0 transcriptions, 0 completed, 0 failed, 0 usage.\n"
    )
    assert _counts() == (8, 5, 2)
    stats.refresh_from_db()
    assert (stats.transcriptions, stats.completed, stats.failed, stats.active_days) == (
        3,
        1,
        1,
        4,
    )

    body = services.overview(date(2026, 1, 1), date(2026, 1, 31))
    assert (body["signups"], body["activated_users"], body["transcriptions"]) == (2, 1, 3)
    assert (body["audio_seconds"], body["cost"], body["revenue"]) == (90.0, "0.009000", "0.030000")
    assert body["failures"] == {"total": 1, "by_error_code": {"corrupt_audio": 1}}


def test_backfill_after_live_recording_adds_nothing(existing_data) -> None:
    services.record_signup(existing_data)
    call_command("analytics_backfill")
    first = _counts()
    call_command("analytics_backfill")
    assert _counts() == first == (8, 5, 2)
