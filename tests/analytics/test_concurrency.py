"""Counters under real concurrency: threads on their own PostgreSQL connections."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.db.models import Sum

from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.users import make_user
from transcription_platform.analytics import services
from transcription_platform.analytics.models import DailyTotal, Event, ReferralCode, UserStats

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 24


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("lost updates under real concurrency need PostgreSQL")


def run_together(work: Callable[[int], None]) -> list[BaseException]:
    """``work(i)`` in THREADS threads released at once; the errors they raised."""
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # reported by the test: every outcome must be seen
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_concurrent_jobs_of_one_user_lose_no_count() -> None:
    owner = make_user("busy")
    services.record_signup(owner)
    jobs = [make_transcription(owner, "completed", started_at=None) for _ in range(THREADS)]

    def record(i: int) -> None:
        services.record_transcription_created(jobs[i])
        services.record_transcription_completed(jobs[i])

    assert run_together(record) == []
    stats = UserStats.objects.get(pk=owner.pk)
    assert (stats.transcriptions, stats.completed) == (THREADS, THREADS)
    assert stats.active_days == 1  # one day, however many threads raced to add it
    # The day's totals: one row per day and engine, created by one thread, bumped by all.
    totals = DailyTotal.objects.aggregate(created=Sum("created"), completed=Sum("completed"))
    assert totals == {"created": THREADS, "completed": THREADS}


def completes_while_held(held: object, other: object) -> bool:
    """Whether ``other``'s completion commits within 1 s while a transaction that
    recorded ``held``'s completion stays open on another connection."""
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                services.record_transcription_completed(held)
                holding.set()
                release.wait(30)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert holding.wait(30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
            services.record_transcription_completed(other)
    except OperationalError as exc:
        if "lock timeout" not in str(exc):
            raise
        return False
    finally:
        release.set()
        thread.join(30)
    assert errors == []
    return True


def test_jobs_of_different_users_do_not_wait_for_one_daily_row(settings) -> None:
    # Consecutive users are on different shards of the default 8: neither waits.
    first, second = make_user("first"), make_user("second")
    assert services.total_shard(first.pk) != services.total_shard(second.pk)
    same = {"engine": "default", "model": "m"}  # the same day's row but for the shard
    jobs = [make_transcription(user, "completed", **same) for user in (first, second)]
    assert completes_while_held(*jobs)
    # One row for the day (1 shard): the second job waits for the first to commit.
    settings.TRANSCRIPTION_PLATFORM = {"ANALYTICS_TOTAL_SHARDS": 1}
    jobs = [make_transcription(user, "completed", **same) for user in (first, second)]
    assert not completes_while_held(*jobs)
    assert DailyTotal.objects.aggregate(n=Sum("completed")) == {"n": 3}


def test_one_event_delivered_by_every_thread_counts_once() -> None:
    owner = make_user("twice")
    job = make_transcription(owner, "completed")
    assert run_together(lambda i: services.record_transcription_completed(job)) == []
    assert Event.objects.filter(kind="transcription_completed").count() == 1
    assert UserStats.objects.get(pk=owner.pk).completed == 1
    assert DailyTotal.objects.aggregate(n=Sum("completed")) == {"n": 1}


def test_concurrent_registrations_with_one_code_count_every_use() -> None:
    referrer = make_user("host")
    code = services.create_referral_code(referrer)
    guests = [make_user(f"guest{i}") for i in range(THREADS)]

    def register(i: int) -> None:
        from django.db import transaction

        with transaction.atomic():
            services.apply_referral_code(guests[i], referral_code=code.code)

    assert run_together(register) == []
    assert ReferralCode.objects.get(pk=code.pk).uses == THREADS
    assert UserStats.objects.get(pk=referrer.pk).referrals == THREADS
    assert UserStats.objects.filter(referred_by=referrer.pk).count() == THREADS
