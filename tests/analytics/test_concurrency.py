"""Counters under real concurrency: threads on their own PostgreSQL connections."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections
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
