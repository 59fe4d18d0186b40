"""Budgets enforced at create time: 402 ``quota_exceeded``, nothing stored."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from tests.fixtures.api import API, assert_error
from tests.fixtures.billing import platform
from tests.fixtures.uploads import upload as post_audio
from transcription_platform.billing.models import Budget, Reservation, ReservationStatus
from transcription_platform.billing.signals import quota_exceeded
from transcription_platform.transcriptions.models import Transcription

pytestmark = pytest.mark.django_db


def files_in(root) -> list[Path]:
    return [p for p in Path(root).rglob("*") if p.is_file()]


def limits(settings, **values):
    settings.TRANSCRIPTION_PLATFORM = platform(BILLING_DEFAULT_LIMITS=values)


def test_over_the_monthly_seconds_a_create_is_refused_and_nothing_stored(
    settings, auth_client, wav, transcribe, media_root
):
    limits(settings, monthly_audio_seconds=10)
    transcribe()  # 6 s used, 4 s left
    stored = files_in(media_root)
    refusals = []

    def receiver(sender, user, details, **kwargs):
        refusals.append(details)

    quota_exceeded.connect(receiver, weak=False)
    try:
        response = post_audio(auth_client, wav)
    finally:
        quota_exceeded.disconnect(receiver)

    body = assert_error(response, 402, "quota_exceeded")
    details = body["details"]
    assert details["limit"] == "monthly_audio_seconds"
    assert (details["value"], details["used"], details["remaining"]) == (10, 6, 4)
    assert details["requested"] == 6
    assert details["resets_at"].endswith("T00:00:00+00:00")
    assert refusals == [details]
    assert Transcription.objects.count() == 1
    assert Reservation.objects.count() == 1
    assert files_in(media_root) == stored


def test_concurrent_jobs_limit_counts_jobs_in_flight_and_frees_on_cancel(
    settings, auth_client, wav, django_capture_on_commit_callbacks
):
    limits(settings, concurrent_jobs=1)
    # Without on-commit callbacks the job is never run: it stays pending (in flight).
    first = post_audio(auth_client, wav)
    assert first.status_code == 201
    refused = post_audio(auth_client, wav)
    details = assert_error(refused, 402, "quota_exceeded")["details"]
    assert (details["limit"], details["resets_at"]) == ("concurrent_jobs", None)

    with django_capture_on_commit_callbacks(execute=True):
        cancel = auth_client.post(f"{API}/transcriptions/{first.json()['id']}/cancel")
    assert cancel.status_code in (200, 202), cancel.content
    assert Reservation.objects.get().status == ReservationStatus.RELEASED
    assert post_audio(auth_client, wav).status_code == 201


def test_deleting_a_pending_job_frees_its_slot(settings, auth_client, wav):
    limits(settings, concurrent_jobs=1)
    first = post_audio(auth_client, wav)
    assert first.status_code == 201
    assert_error(post_audio(auth_client, wav), 402, "quota_exceeded")
    assert auth_client.delete(f"{API}/transcriptions/{first.json()['id']}").status_code == 204
    assert Reservation.objects.get().status == ReservationStatus.RELEASED
    assert post_audio(auth_client, wav).status_code == 201


def test_monthly_cost_limit_uses_the_estimate(settings, auth_client, wav):
    # 6 s at 0.6 per minute is 0.06 per job.
    limits(settings, monthly_cost="0.10")
    assert post_audio(auth_client, wav).status_code == 201
    details = assert_error(post_audio(auth_client, wav), 402)["details"]
    assert details["limit"] == "monthly_cost"
    assert details["remaining"] == pytest.approx(0.04)


def test_the_tightest_of_user_and_group_budgets_applies(auth_client, user, wav):
    Budget.objects.create(user=user, monthly_audio_seconds=100)
    group = Group.objects.create(name="interns")
    group.user_set.add(user)
    Budget.objects.create(group=group, monthly_audio_seconds=8)
    assert post_audio(auth_client, wav).status_code == 201
    details = assert_error(post_audio(auth_client, wav), 402)["details"]
    assert (details["scope"], details["value"]) == ("group", 8)
    summary = auth_client.get(f"{API}/usage/").json()
    assert summary["limits"]["monthly_audio_seconds"] == 8


def test_a_group_budget_is_shared_by_its_members(auth_client, other_client, user, other_user, wav):
    group = Group.objects.create(name="team")
    group.user_set.add(user, other_user)
    Budget.objects.create(group=group, monthly_audio_seconds=12)
    assert post_audio(auth_client, wav).status_code == 201
    assert post_audio(other_client, wav).status_code == 201
    assert_error(post_audio(auth_client, wav), 402, "quota_exceeded")
    assert_error(post_audio(other_client, wav), 402, "quota_exceeded")


def test_byok_jobs_cost_the_site_budget_nothing(settings, user, auth_client, wav):
    from transcription_platform.billing import services

    settings.TRANSCRIPTION_PLATFORM = platform(BILLING_DEFAULT_LIMITS={"monthly_cost": "0.05"})
    cost, byok = services._engine_estimate(user, "default", 6.0)
    assert (cost, byok) == (Decimal("0.060000"), False)  # the fake engine takes no key
    assert_error(post_audio(auth_client, wav), 402, "quota_exceeded")


def test_without_limits_nothing_is_locked_or_refused(auth_client, wav):
    for _ in range(3):
        assert post_audio(auth_client, wav).status_code == 201
    assert not Budget.objects.exists()
    assert Reservation.objects.filter(status=ReservationStatus.RESERVED).count() == 3


@pytest.mark.django_db
def test_migrate_keeps_one_reconcile_schedule() -> None:
    from django.core.management import call_command
    from django_q.models import Schedule

    from transcription_platform.billing.tasks import RECONCILE_SCHEDULE_NAME

    call_command("migrate", verbosity=0)
    call_command("migrate", verbosity=0)
    [schedule] = Schedule.objects.filter(name=RECONCILE_SCHEDULE_NAME)
    assert schedule.func == "transcription_platform.billing.tasks.reconcile_reservations"
    assert schedule.minutes == 5


@pytest.mark.django_db(transaction=True)
def test_quota_exceeded_fires_once_after_the_refused_create_rolled_back(
    settings, auth_client, wav, media_root
):
    """A receiver runs outside any transaction, sees nothing of the refused create, and
    what it writes is kept (the signal is not sent inside the doomed transaction)."""
    from django.db import connection

    limits(settings, monthly_audio_seconds=10)
    assert post_audio(auth_client, wav).status_code == 201  # 6 s of 10 used
    heard = []

    def receiver(sender, user, details, **kwargs):
        heard.append(
            {
                "in_transaction": connection.in_atomic_block,
                "transcriptions": Transcription.objects.count(),
                "reservations": Reservation.objects.count(),
                "limit": details["limit"],
            }
        )
        # A write by the receiver (a notification, a counter) must be kept.
        Group.objects.create(name=f"witness-{len(heard)}")

    quota_exceeded.connect(receiver, weak=False)
    try:
        assert_error(post_audio(auth_client, wav), 402, "quota_exceeded")
    finally:
        quota_exceeded.disconnect(receiver)

    assert heard == [
        {
            "in_transaction": False,
            "transcriptions": 1,
            "reservations": 1,
            "limit": "monthly_audio_seconds",
        }
    ]
    assert Group.objects.filter(name__startswith="witness-").count() == 1
    assert Transcription.objects.count() == 1
    assert len(files_in(media_root)) == 1
