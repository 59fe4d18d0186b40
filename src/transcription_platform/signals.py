"""Lifecycle signals, sent after the change is committed.

Every transcription signal is sent with ``sender=Transcription`` and ``transcription``
(the instance, as committed); ``user_signed_up`` with the user model as sender.
Connect receivers in your app's ``ready()``::

    from transcription_platform.signals import transcription_completed

    @receiver(transcription_completed)
    def notify(sender, transcription, **kwargs): ...

A receiver that only writes rows of the same database (a ledger entry, a counter, an
event row) may instead run *inside* the transaction that makes the change, with
``connect(receiver, in_transaction=True)``: its writes commit or roll back with the
change, exactly once, and cost the job no transaction of their own (the platform's
billing, analytics and notifications apps connect that way). Each such receiver runs
in a savepoint; one that raises is logged and its writes undone, the change itself
goes on (as a receiver failing after commit could not undo it either).
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from asgiref.sync import async_to_sync
from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger("transcription_platform.signals")


def _make_id(target: Any) -> Any:
    # How django.dispatch identifies a receiver or a sender (its private _make_id).
    if hasattr(target, "__func__"):
        return (id(target.__self__), id(target.__func__))
    return id(target)


NONE_ID = _make_id(None)


def _lookup_key(receiver: Any, sender: Any, dispatch_uid: Any) -> tuple[Any, Any]:
    # The key Signal.connect files a receiver under.
    return (dispatch_uid or _make_id(receiver), _make_id(sender))


class LifecycleSignal(Signal):
    """A signal whose receivers run after commit, or inside the sender's transaction.

    ``send`` calls every receiver (as Django's `Signal` does). The pipeline calls
    `send_in_transaction` inside the transaction that makes the change and
    `send_after_commit` once it committed: each receiver runs once, where it was
    connected to run.
    """

    def __init__(self) -> None:
        super().__init__()
        self._in_transaction: set[tuple[Any, Any]] = set()

    def connect(
        self,
        receiver: Any,
        sender: Any = None,
        weak: bool = True,
        dispatch_uid: Any = None,
        *,
        in_transaction: bool = False,
    ) -> None:
        """Connect ``receiver``; with ``in_transaction`` it runs inside the transaction
        that makes the change (see the module's docstring)."""
        super().connect(receiver, sender, weak, dispatch_uid)
        key = _lookup_key(receiver, sender, dispatch_uid)
        with self.lock:
            if in_transaction:
                self._in_transaction.add(key)
            else:
                self._in_transaction.discard(key)

    def disconnect(
        self, receiver: Any = None, sender: Any = None, dispatch_uid: Any = None
    ) -> bool:
        """Disconnect as `Signal.disconnect` does."""
        disconnected = super().disconnect(receiver, sender, dispatch_uid)
        with self.lock:
            self._in_transaction.discard(_lookup_key(receiver, sender, dispatch_uid))
        return bool(disconnected)

    def _receivers_of(self, sender: Any, *, in_transaction: bool) -> list[Any]:
        sender_key = _make_id(sender)
        with self.lock:
            entries = list(self.receivers)
            chosen = set(self._in_transaction)
        found = []
        # Django's private entries: (key, receiver, is_async) up to 5.2,
        # (key, receiver, sender_ref, is_async) from 6.0 on. Read the first two and the
        # last, which every version has, rather than the whole shape of one.
        for entry in entries:
            key, receiver, is_async = entry[0], entry[1], entry[-1]
            if (key in chosen) != in_transaction or key[1] not in (NONE_ID, sender_key):
                continue
            if isinstance(receiver, weakref.ReferenceType):
                receiver = receiver()
                if receiver is None:
                    continue
            found.append(async_to_sync(receiver) if is_async else receiver)
        return found

    def send_in_transaction(self, sender: Any, *, using: str | None = None, **named: Any) -> None:
        """Call the receivers connected ``in_transaction``, each in a savepoint of the
        caller's transaction on ``using``; one that raises is logged, not propagated.

        Args:
            sender: The sender (``Transcription``).
            using: The database alias of the caller's transaction.
            **named: The signal's arguments.
        """
        for receiver in self._receivers_of(sender, in_transaction=True):
            try:
                with transaction.atomic(using=using):
                    receiver(signal=self, sender=sender, **named)
            except Exception:
                # Its writes are rolled back with its savepoint; the sweeps that repair
                # a receiver lost to a killed worker (billing's reconciliation, the
                # analytics backfill) repair this one too.
                logger.exception("Receiver %r of a lifecycle signal failed", receiver)

    def send_after_commit(self, sender: Any, **named: Any) -> list[tuple[Any, Any]]:
        """Call the other receivers, as `Signal.send` would (their errors propagate).

        Args:
            sender: The sender (``Transcription``).
            **named: The signal's arguments.

        Returns:
            ``(receiver, response)`` pairs.
        """
        return [
            (receiver, receiver(signal=self, sender=sender, **named))
            for receiver in self._receivers_of(sender, in_transaction=False)
        ]


#: A transcription was created and its job enqueued. Args: ``transcription``.
transcription_created = LifecycleSignal()

#: A worker started (or resumed) processing. Args: ``transcription``.
transcription_started = LifecycleSignal()

#: The job's ``progress`` (0-100) moved forward while processing (throttled by the
#: pipeline: a few times per chunk at most). Args: ``transcription``.
transcription_progress = LifecycleSignal()

#: A failed job was sent back to pending by ``retry``. Args: ``transcription``.
transcription_retried = LifecycleSignal()

#: The transcript was saved. Args: ``transcription``.
transcription_completed = LifecycleSignal()

#: The job failed for good. Args: ``transcription``, ``error_code``, ``error_message``.
transcription_failed = LifecycleSignal()

#: The job was cancelled by its owner or staff. Args: ``transcription``.
transcription_cancelled = LifecycleSignal()

#: Analysis of a transcript finished. Args: ``transcription``, ``analysis``.
analysis_completed = LifecycleSignal()

#: Analysis of a transcript failed for good (the transcript is kept). Args:
#: ``transcription``, ``analysis`` (its tokens, spent before the failure, included),
#: ``error_code``, ``error_message``.
analysis_failed = LifecycleSignal()

#: A person created an account (registration, or a first single sign-on), sent after
#: commit with ``sender=`` the user model. Args: ``user``, ``method`` (``"password"`` or
#: ``"oidc"``). Accounts made by staff (admin, ``createsuperuser``) send nothing.
user_signed_up = Signal()
