"""Real-time status events: the per-user event log, stream tokens and the SSE format.

Every change of a job (created, started, progress, completed, failed, cancelled,
retried) is recorded by `record` as a `StreamEvent` whose id is the next of its owner's
`EventSequence`, taken under that row's lock: a user's events commit in id order, so
``Last-Event-ID`` is an exact cursor. On PostgreSQL the same transaction sends a
``NOTIFY`` carrying the event, delivered to listeners when (and only if) it commits.

The streaming side (a listener per server process, the views) is in
`transcription_platform.notifications.fanout` and `transcription_platform.notifications.views`;
the functions here are the synchronous database work they run on pool threads.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Min, Q
from django.utils import timezone

from transcription_platform.conf import settings
from transcription_platform.notifications.models import EventSequence, StreamEvent

#: The PostgreSQL ``NOTIFY`` channel events are announced on.
CHANNEL = "transcription_platform_events"
TERMINAL_EVENTS = ("completed", "failed", "cancelled")
EVENT_TYPES = ("status", "progress", *TERMINAL_EVENTS)
#: Prune the log every this many events of a user (not on every insert).
PRUNE_EVERY = 50
#: ``error_message`` is cut here, so an event fits a ``NOTIFY`` payload (8000 bytes).
MAX_MESSAGE_CHARS = 1000
TOKEN_SALT = "transcription_platform.notifications.stream-token"  # noqa: S105 (a salt)


@dataclass(frozen=True)
class Event:
    """One real-time event of ``owner_id``'s jobs, as logged and as streamed."""

    owner_id: int
    event_id: int
    transcription_id: str
    event_type: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.event_type in TERMINAL_EVENTS

    def encode(self) -> bytes:
        """The event in Server-Sent Events framing."""
        body = json.dumps(self.data, separators=(",", ":"))
        return f"id: {self.event_id}\nevent: {self.event_type}\ndata: {body}\n\n".encode()

    def to_json(self) -> str:
        return json.dumps(
            [self.owner_id, self.event_id, self.transcription_id, self.event_type, self.data],
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, payload: str) -> Event:
        owner_id, event_id, transcription_id, event_type, data = json.loads(payload)
        return cls(int(owner_id), int(event_id), str(transcription_id), event_type, data)

    @classmethod
    def from_row(cls, row: StreamEvent) -> Event:
        return cls(row.owner_id, row.event_id, str(row.transcription_id), row.event_type, row.data)


def event_data(transcription: Any) -> dict[str, Any]:
    """The ``data`` of an event about ``transcription``: its state now."""
    from transcription_platform.transcriptions.services import TranscriptionStatus

    data: dict[str, Any] = {
        "transcription_id": str(transcription.pk),
        "status": transcription.status,
        "progress": transcription.progress,
    }
    if transcription.status == TranscriptionStatus.FAILED:
        data["error_code"] = transcription.error_code
        data["error_message"] = (transcription.error_message or "")[:MAX_MESSAGE_CHARS]
    return data


def snapshot_type(status: str) -> str:
    """The event type that tells a job's current ``status``."""
    return status if status in TERMINAL_EVENTS else "status"


# --------------------------------------------------------------------------- writing


def record(transcription: Any, event_type: str) -> Event:
    """Log an event about ``transcription`` (its state now) and announce it on commit.

    Args:
        transcription: The job, as committed.
        event_type: One of `EVENT_TYPES`.

    Returns:
        The event, with its id.
    """
    owner_id = transcription.owner_id
    # No savepoint of its own: a receiver inside the job's transaction runs in one.
    with transaction.atomic(savepoint=False):
        event = _record_in_one_statement(transcription, event_type)
        if event is None:
            event = _record_in_steps(transcription, event_type)
        event_id = event.event_id
        if event_id % PRUNE_EVERY == 0:
            StreamEvent.objects.filter(
                owner_id=owner_id, event_id__lte=event_id - settings.EVENTS_LOG_SIZE
            ).delete()
    return event


def _record_in_steps(transcription: Any, event_type: str) -> Event:
    """`record`'s writes one by one: any database, and a user's first event."""
    owner_id = transcription.owner_id
    event_id = _next_event_id(owner_id)
    event = Event(owner_id, event_id, str(transcription.pk), event_type, event_data(transcription))
    StreamEvent.objects.create(
        owner_id=owner_id,
        event_id=event_id,
        transcription_id=transcription.pk,
        event_type=event_type,
        data=event.data,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, event.to_json()])
    return event


def _record_in_one_statement(transcription: Any, event_type: str) -> Event | None:
    """On PostgreSQL, `record`'s four writes as one statement (one round trip instead
    of four: every job sends two or three events inside its own transactions).

    The sequence row is incremented (and stays locked until commit, as in
    `_next_event_id`), the event inserted with the id it returned and the ``NOTIFY``
    sent with that id, byte for byte the payload `Event.to_json` makes.

    Returns:
        The event; None on other databases, or when the owner has no sequence row yet
        (their first event goes through `_record_in_steps`, which creates it).
    """
    if connection.vendor != "postgresql":
        return None
    owner_id = transcription.owner_id
    data = event_data(transcription)
    transcription_id = str(transcription.pk)
    # The payload around the id: "[owner," + id + "," + the rest, as to_json writes it.
    rest = json.dumps([transcription_id, event_type, data], separators=(",", ":"))
    with connection.cursor() as cursor:
        cursor.execute(
            _one_statement_sql(),
            [
                owner_id,
                owner_id,
                transcription.pk,
                event_type,
                json.dumps(data, separators=(",", ":")),
                timezone.now(),
                CHANNEL,
                f"[{owner_id},",
                f",{rest[1:]}",
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return Event(owner_id, int(row[0]), transcription_id, event_type, data)


@functools.cache
def _one_statement_sql() -> str:
    # Built once, from the models' own table and column names.
    sequence, log = EventSequence._meta, StreamEvent._meta
    quote = connection.ops.quote_name

    def column(meta: Any, name: str) -> str:
        return quote(meta.get_field(name).column)

    last_id = column(sequence, "last_id")
    columns = ", ".join(
        column(log, name)
        for name in ("owner", "event_id", "transcription_id", "event_type", "data", "created_at")
    )
    # Identifiers from the models' own metadata, quoted; every value is a parameter.
    return (
        f"WITH seq AS (UPDATE {quote(sequence.db_table)} SET {last_id} = {last_id} + 1 "  # noqa: S608
        f"WHERE {column(sequence, 'owner')} = %s RETURNING {last_id} AS id), "
        f"ev AS (INSERT INTO {quote(log.db_table)} ({columns}) "
        "SELECT %s, seq.id, %s, %s, %s::jsonb, %s FROM seq RETURNING "
        f"{column(log, 'event_id')} AS id) "
        "SELECT ev.id, pg_notify(%s, %s || ev.id::text || %s) FROM ev"
    )


def _next_event_id(owner_id: int) -> int:
    """The owner's next event id; its row stays locked until the transaction ends."""
    for _ in range(3):
        sequence = EventSequence.objects.filter(owner_id=owner_id)
        if sequence.update(last_id=F("last_id") + 1):
            return int(sequence.values_list("last_id", flat=True).get())
        try:
            with transaction.atomic():
                EventSequence.objects.create(owner_id=owner_id, last_id=1)
            return 1
        except IntegrityError:
            continue  # a concurrent first event created the row: take the next id
    raise RuntimeError(f"Could not take an event id for user {owner_id}.")


# --------------------------------------------------------------------------- reading


def last_event_id(owner_id: int) -> int:
    """The id of ``owner_id``'s latest committed event (0: none yet)."""
    found = EventSequence.objects.filter(owner_id=owner_id).values_list("last_id", flat=True)
    return int(found.first() or 0)


def events_after(owner_id: int, after: int, transcription_id: Any = None) -> list[Event]:
    """``owner_id``'s logged events after id ``after``, oldest first (optionally of one job)."""
    rows = StreamEvent.objects.filter(owner_id=owner_id, event_id__gt=after)
    if transcription_id is not None:
        rows = rows.filter(transcription_id=transcription_id)
    return [Event.from_row(row) for row in rows.order_by("event_id")[: settings.EVENTS_LOG_SIZE]]


def _resumable(owner_id: int, after: int, current: int) -> bool:
    """Whether every event after ``after`` is still in the log."""
    if after < 0 or after > current:
        return False  # not an id of ours (another server's, or made up)
    if after == current:
        return True
    oldest = StreamEvent.objects.filter(owner_id=owner_id).aggregate(oldest=Min("event_id"))
    return oldest["oldest"] is not None and oldest["oldest"] <= after + 1


def open_job_stream(transcription: Any, last_id: int | None) -> tuple[list[Event], int]:
    """What a job stream sends first, and the id it continues after.

    With a resumable ``last_id``, the job's events since; else the job's state now, as
    one event carrying the latest id. The cursor is read before the state, so a change
    committed in between is sent again rather than lost.

    Args:
        transcription: The job (visible to the client; checked by the caller).
        last_id: The client's ``Last-Event-ID``, if any.

    Returns:
        ``(events, cursor)``: send ``events``, then live events after ``cursor``.
    """
    owner_id = transcription.owner_id
    current = last_event_id(owner_id)
    if last_id is not None and _resumable(owner_id, last_id, current):
        return events_after(owner_id, last_id, transcription.pk)[:], current
    transcription.refresh_from_db(fields=["status", "progress", "error_code", "error_message"])
    event = Event(
        owner_id,
        current,
        str(transcription.pk),
        snapshot_type(transcription.status),
        event_data(transcription),
    )
    return [event], current


def open_user_stream(owner_id: int, last_id: int | None) -> tuple[list[Event], int]:
    """What a user-wide stream sends first (the events after ``last_id`` still kept;
    none without one) and the id it continues after."""
    current = last_event_id(owner_id)
    if last_id is None or last_id < 0 or last_id > current:
        return [], current
    return events_after(owner_id, last_id), current


def poll(known: dict[int, int]) -> tuple[list[Event], dict[int, int]]:
    """New events of the users in ``known`` (user id → last id seen), for the polling
    listener: one query for the users' latest ids, one more if any moved.

    Args:
        known: The last id seen per user; a user seen for the first time maps to -1.

    Returns:
        The new events (oldest first per user) and the updated ``known``. A user seen
        for the first time gets no events (their streams read their own start).
    """
    latest = dict(
        EventSequence.objects.filter(owner_id__in=list(known)).values_list("owner_id", "last_id")
    )
    updated = {owner: latest.get(owner, 0) if seen < 0 else seen for owner, seen in known.items()}
    moved = Q()
    for owner, last in latest.items():
        if known[owner] >= 0 and last > known[owner]:
            moved |= Q(owner_id=owner, event_id__gt=known[owner], event_id__lte=last)
    if not moved:
        return [], updated
    events = [Event.from_row(row) for row in StreamEvent.objects.filter(moved).order_by("event_id")]
    for event in events:
        updated[event.owner_id] = max(updated[event.owner_id], event.event_id)
    return events, updated


# --------------------------------------------------------------------------- tokens


def issue_stream_token(user: Any) -> str:
    """A signed token naming ``user``, good for opening streams for a few minutes."""
    return signing.TimestampSigner(salt=TOKEN_SALT).sign_object({"u": user.pk})


def user_for_stream_token(token: str) -> Any:
    """The active user a valid, unexpired stream token names, or None."""
    try:
        value = signing.TimestampSigner(salt=TOKEN_SALT).unsign_object(
            token, max_age=settings.EVENTS_TOKEN_TTL_SECONDS
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(value, dict) or "u" not in value:
        return None
    return get_user_model().objects.filter(pk=value["u"], is_active=True).first()
