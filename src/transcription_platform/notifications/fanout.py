"""One listener per server process, shared by every open stream of that process.

A stream subscribes to its user's events (`Hub.subscribe`) and gets them in an
``asyncio.Queue``; it holds no thread and no database connection while it waits. The
`Hub` of the event loop runs one listener while it has subscribers:

* on PostgreSQL, a ``LISTEN`` connection: `streams.record` sends each event with
  ``NOTIFY`` in its own transaction, delivered on commit, in commit order;
* elsewhere (SQLite), a poll of the event log every ``EVENTS_POLL_SECONDS``, one query
  for all streams (`streams.poll`).

Whenever the listener may have missed events (it reconnected, a queue overflowed, a
user's first poll), the affected subscriptions get `RESYNC` and read the log from their
own cursor: streams never skip an event, at worst they read it from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable
from typing import Any, Final

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from transcription_platform.asgi import run_pooled
from transcription_platform.conf import settings
from transcription_platform.exceptions import ServiceUnavailable
from transcription_platform.notifications import streams

logger = logging.getLogger("transcription_platform.notifications")

#: Put on a subscription's queue when it must re-read the log from its cursor.
RESYNC: Final = object()
#: Events a slow stream may have waiting before it resyncs from the log instead.
QUEUE_SIZE = 256
#: Seconds a new stream waits for the listener to be ready (else 503).
READY_TIMEOUT = 10.0
#: Seconds between attempts to reconnect a lost ``LISTEN`` connection.
RECONNECT_DELAY = 1.0


class Subscription:
    """A stream's mailbox: its user's events, or `RESYNC`."""

    def __init__(self, owner_id: int) -> None:
        self.owner_id = owner_id
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=QUEUE_SIZE)

    def put(self, item: Any) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            # Too slow a reader: drop what waits and read the log from the cursor.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)


class Hub:
    """The subscriptions of one event loop and the listener that feeds them."""

    def __init__(self) -> None:
        self.subscriptions: dict[int, set[Subscription]] = {}
        self.ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def count(self) -> int:
        """Open subscriptions."""
        return sum(len(s) for s in self.subscriptions.values())

    async def subscribe(self, owner_id: int) -> Subscription:
        """A subscription to ``owner_id``'s events, once the listener hears them.

        Raises:
            ServiceUnavailable: The listener could not start in time (database down).
        """
        subscription = Subscription(owner_id)
        self.subscriptions.setdefault(owner_id, set()).add(subscription)
        if self._task is None or self._task.done():
            self.ready.clear()
            self._task = asyncio.create_task(self._run(), name="transcription-platform-events")
        try:
            await asyncio.wait_for(self.ready.wait(), READY_TIMEOUT)
        except TimeoutError:
            self.unsubscribe(subscription)
            raise ServiceUnavailable("Real-time events are unavailable right now.") from None
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        """Forget ``subscription``; the listener stops with the last one."""
        owned = self.subscriptions.get(subscription.owner_id)
        if owned is not None:
            owned.discard(subscription)
            if not owned:
                del self.subscriptions[subscription.owner_id]
        if not self.subscriptions and self._task is not None:
            self._task.cancel()
            self._task = None

    def dispatch(self, event: streams.Event) -> None:
        for subscription in self.subscriptions.get(event.owner_id, ()):
            subscription.put(event)

    def resync(self, owners: Any = None) -> None:
        """Tell the subscriptions of ``owners`` (default: all) to re-read the log."""
        for owner in list(self.subscriptions) if owners is None else owners:
            for subscription in self.subscriptions.get(owner, ()):
                subscription.put(RESYNC)

    async def _run(self) -> None:
        listen: Callable[[], Any] = self._listen if uses_postgres_listen() else self._poll
        await listen()

    # ------------------------------------------------------------------ PostgreSQL

    async def _listen(self) -> None:
        import psycopg

        reconnecting = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    **listen_connection_params(), autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {streams.CHANNEL}")
                    if reconnecting:
                        self.resync()  # events committed while nobody listened
                    self.ready.set()
                    async for notify in conn.notifies():
                        self.dispatch(streams.Event.from_json(notify.payload))
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("The real-time events listener lost its connection")
            reconnecting = True
            await asyncio.sleep(RECONNECT_DELAY)

    # ------------------------------------------------------------------ polling

    async def _poll(self) -> None:
        known: dict[int, int] = {}
        self.ready.set()
        while True:
            known = {owner: known.get(owner, -1) for owner in self.subscriptions}
            new_owners = [owner for owner, seen in known.items() if seen < 0]
            try:
                events, known = await run_pooled(streams.poll, known)
            except Exception:
                logger.exception("Polling real-time events failed")
                events = []
            else:
                # Events of a first poll are not sent: the streams read them themselves.
                self.resync(new_owners)
            for event in events:
                self.dispatch(event)
            await asyncio.sleep(settings.EVENTS_POLL_SECONDS)


def uses_postgres_listen() -> bool:
    """Whether this process's listener is a PostgreSQL ``LISTEN`` (else it polls)."""
    fanout = settings.EVENTS_FANOUT
    if fanout not in ("auto", "postgres", "poll"):
        raise ImproperlyConfigured(
            "TRANSCRIPTION_PLATFORM['EVENTS_FANOUT'] must be 'auto', 'postgres' or 'poll'."
        )
    if fanout == "auto":
        return connections["default"].vendor == "postgresql"
    return bool(fanout == "postgres")


#: Keys of a Django PostgreSQL ``OPTIONS`` that are not libpq connection parameters.
_DJANGO_ONLY_OPTIONS = {"isolation_level", "pool", "server_side_binding", "assume_role"}


def listen_connection_params() -> dict[str, Any]:
    """libpq parameters of the default database, for the listener's own connection."""
    db = connections["default"].settings_dict
    params: dict[str, Any] = {
        key: value
        for key, value in (db.get("OPTIONS") or {}).items()
        if key not in _DJANGO_ONLY_OPTIONS and isinstance(value, str | int)
    }
    params.update(
        {
            "dbname": db.get("NAME") or "",
            "user": db.get("USER") or "",
            "password": db.get("PASSWORD") or "",
            "host": db.get("HOST") or "",
            "port": str(db.get("PORT") or ""),
            "application_name": "transcription-platform-events",
        }
    )
    return {key: value for key, value in params.items() if value != ""}


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """The `Hub` of the running event loop (one per server process, in practice)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(loop)
    if found is None:
        found = _hubs[loop] = Hub()
    return found


@contextlib.asynccontextmanager
async def subscribed(owner_id: int) -> Any:
    """``async with subscribed(owner_id) as subscription``: unsubscribes on exit, also
    when the stream is cancelled (its client went away)."""
    current = hub()
    subscription = await current.subscribe(owner_id)
    try:
        yield subscription
    finally:
        current.unsubscribe(subscription)
