"""Work that must wait, done one way: enqueue now or at time T, and claim rows.

No worker sleeps waiting for a retry. A task that must run again later is a one-off
django-q2 schedule (`enqueue_task` with a ``delay``), written in the caller's
transaction; the worker is free meanwhile. Work that two deliveries could both pick up
(a chunk, an analysis) is taken with `Claims.take`: one conditional UPDATE, so only
one of them wins; a claim older than the queue's task timeout belonged to a worker
that died and may be taken again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import router, transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from transcription_platform.conf import settings


def orm_broker_shares_database(model: type[Model]) -> bool:
    """Whether django-q2's queue rows are written to the database ``model`` lives in.

    Args:
        model: The model whose rows the task is about.

    Returns:
        True when enqueuing is part of the caller's transaction (ORM broker, not sync).
    """
    from django_q.conf import Conf

    return bool(Conf.ORM) and router.db_for_write(model) == Conf.ORM and not Conf.SYNC


def enqueue_task(
    func: str,
    *args: Any,
    task_name: str,
    model: type[Model],
    delay: float = 0.0,
    immediately: bool = False,
) -> None:
    """Run the task ``func(*args)`` now, or once ``delay`` seconds have passed.

    Now: with the ORM broker on ``model``'s database the queue row is written in the
    caller's transaction (atomic with the caller's rows); other brokers (Redis…) and
    sync mode enqueue once the transaction commits, so a task never sees uncommitted
    rows. Later: a one-off django-q2 schedule, written in the caller's transaction,
    that the cluster's scheduler turns into a task when it is due.

    Args:
        func: Dotted path of the task function.
        *args: Its arguments (ids, not model instances).
        task_name: A readable name for the queue and the admin.
        model: The model whose rows the task is about (decides the database).
        delay: Seconds to wait first; 0 runs it as soon as a worker is free.
        immediately: Push to the broker at once, not after the caller's transaction
            (for task bodies that run in autocommit and write nothing the task needs).
    """
    if delay > 0:
        from django_q.models import Schedule
        from django_q.tasks import schedule

        now = timezone.now()
        schedule(
            func,
            *args,
            # Unique: two pending retries of the same work are two schedules.
            name=f"{task_name}@{now.timestamp():.6f}",
            schedule_type=Schedule.ONCE,
            next_run=now + timedelta(seconds=delay),
            repeats=-1,  # deleted once it has run
            cluster=settings.TASK_CLUSTER,
        )
        return

    def push() -> None:
        from django_q.tasks import async_task

        async_task(func, *args, task_name=task_name, cluster=settings.TASK_CLUSTER)

    if immediately or orm_broker_shares_database(model):
        push()
    else:
        transaction.on_commit(push, using=router.db_for_write(model))


def queue_workers() -> int:
    """Worker processes of a cluster (django-q2's ``workers``, by default the CPU count):
    how many chunks of one file can run at once."""
    from django_q.conf import Conf

    return max(1, int(Conf.WORKERS or 1))


def claim_expiry() -> timedelta:
    """How long a claim without a lease holds: the queue's task timeout, when django-q2
    re-delivers."""
    from django_q.conf import Conf

    return timedelta(seconds=Conf.TIMEOUT or settings.STUCK_AFTER_SECONDS)


def lease_expiry() -> timedelta:
    """How long a leased claim holds without a renewal (``CLAIM_LEASE_SECONDS``)."""
    return timedelta(seconds=settings.CLAIM_LEASE_SECONDS)


def lease_renewal_seconds() -> float:
    """How often a worker renews its lease: a few renewals fit in one lease, so a slow
    database round trip never lets a live worker's lease run out."""
    return float(min(5.0, settings.CLAIM_LEASE_SECONDS / 4))


@dataclass(frozen=True)
class Claims:
    """How rows of one kind of work are claimed: their status values and claim field.

    One conditional UPDATE takes a row, so of two deliveries racing for it exactly one
    wins; a claim older than `claim_expiry` belonged to a worker that died (the
    queue re-delivers its task then) and may be taken again.

    With a ``heartbeat`` field the claim is a lease instead: the worker renews it
    (`renew`) every `lease_renewal_seconds` while it works, and a claim not
    renewed for `lease_expiry` belonged to a worker that died — found within a minute
    or so, not after the queue's task timeout.

    Attributes:
        free: The status of work waiting to be done.
        held: The status of work being done.
        claimed_at: The name of the field recording when the claim was taken (the
            claim's identity: `held_by` matches it).
        heartbeat: The name of the field the worker renews, or None (no lease).
    """

    free: str
    held: str
    claimed_at: str
    heartbeat: str | None = None

    def take(self, rows: QuerySet[Any], **updates: Any) -> datetime | None:
        """Claim the row(s) of ``rows`` (already filtered by pk, parent status...).

        Args:
            rows: The row(s) to claim.
            **updates: More fields to set with the claim (``attempts=F(...) + 1``).

        Returns:
            The claim time (pass it to `held_by`), or None when another live
            worker holds the row or it is not claimable.
        """
        now = timezone.now()
        if self.heartbeat is None:
            stale = Q(**{f"{self.claimed_at}__lt": now - claim_expiry()}) | Q(
                **{f"{self.claimed_at}__isnull": True}
            )
        else:
            stale = self._lease_lapsed(now)
            updates[self.heartbeat] = now
        claimable = Q(status=self.free) | (Q(status=self.held) & stale)
        if not rows.filter(claimable).update(status=self.held, **{self.claimed_at: now}, **updates):
            return None
        return now

    def expired(self, rows: QuerySet[Any]) -> QuerySet[Any]:
        """Those of ``rows`` held under a lease that was not renewed in time."""
        if self.heartbeat is None:
            raise TypeError("Only leased claims expire between deliveries.")
        return rows.filter(Q(status=self.held) & self._lease_lapsed(timezone.now()))

    def _lease_lapsed(self, now: datetime) -> Q:
        cutoff = now - lease_expiry()
        # A claim taken before leases existed (no heartbeat yet) lapses by its age.
        return Q(**{f"{self.heartbeat}__lt": cutoff}) | Q(
            **{f"{self.heartbeat}__isnull": True, f"{self.claimed_at}__lt": cutoff}
        )

    def renew(self, rows: QuerySet[Any], claimed_at: datetime) -> bool:
        """Renew the lease of the claim taken at ``claimed_at``.

        Args:
            rows: The claimed row(s), possibly filtered further (the parent still
                wants the work done).
            claimed_at: What `take` returned.

        Returns:
            False when the claim no longer holds (taken over, reset, or ``rows``
            excluded it): the work is no longer this worker's to finish.
        """
        if self.heartbeat is None:
            raise TypeError("This kind of claim has no lease to renew.")
        return bool(self.held_by(rows, claimed_at).update(**{self.heartbeat: timezone.now()}))

    def held_by(self, rows: QuerySet[Any], claimed_at: datetime) -> QuerySet[Any]:
        """``rows`` while the claim taken at ``claimed_at`` still holds (else empty).

        Finish or release work by updating through it, so a run whose claim expired
        and was taken over, or whose row was reset meanwhile, changes nothing.
        """
        return rows.filter(status=self.held, **{self.claimed_at: claimed_at})


def ensure_schedule(name: str, func: str, *, minutes: int) -> None:
    """Keep exactly one django-q2 schedule called ``name``, running ``func`` every
    ``minutes`` on the platform's cluster (``post_migrate`` receivers call this, so a
    changed interval replaces the stored one instead of adding a second schedule).

    Args:
        name: The schedule's unique name.
        func: Dotted path of the task function.
        minutes: The interval.
    """
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=name,
        defaults={
            "func": func,
            "schedule_type": Schedule.MINUTES,
            "minutes": minutes,
            "repeats": -1,
            "cluster": settings.TASK_CLUSTER,
        },
    )
