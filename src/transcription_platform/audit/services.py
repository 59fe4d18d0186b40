"""``log_action``: the one way anything writes to the audit log.

Call it from services after the action happened::

    from transcription_platform.audit.services import log_action
    log_action("deleted", request=request, obj=transcription)

Writing the entry never breaks the caller: a failure is logged (logger
``transcription_platform.audit``) and ``None`` is returned. Any app may import this
module: without the audit app in ``INSTALLED_APPS``, ``log_action`` does nothing.
"""

from __future__ import annotations

import atexit
import ipaddress
import json
import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import close_old_connections, models, transaction
from django.http import HttpRequest

from transcription_platform.conf import settings
from transcription_platform.roles import request_user

if TYPE_CHECKING:
    from transcription_platform.audit.models import AuditAction, AuditLog

logger = logging.getLogger("transcription_platform.audit")

MAX_META_BYTES = 2048
# Meta keys that could carry transcript text or credentials are dropped, whatever the caller.
FORBIDDEN_META_FRAGMENTS = (
    "text",
    "transcript",
    "segment",
    "secret",
    "password",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "prompt",
)


def _safe_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    cleaned = {
        str(key): value
        for key, value in (meta or {}).items()
        if not any(fragment in str(key).lower() for fragment in FORBIDDEN_META_FRAGMENTS)
    }
    encoded = json.dumps(cleaned, default=str)
    if len(encoded.encode()) > MAX_META_BYTES:
        # Small JSON only: an oversized meta is replaced, not truncated into invalid data.
        return {"meta_dropped": f"larger than {MAX_META_BYTES} bytes"}
    decoded: dict[str, Any] = json.loads(encoded)
    return decoded


class _BatchWriter:
    """Inserts deferred audit entries from a daemon thread, many per ``INSERT``.

    Entries wait at most ``AUDIT_DEFERRED_FLUSH_SECONDS``; a full batch is written at
    once, and whatever is left when the process exits normally is written then. A
    process killed outright loses the entries of its last interval (documented in
    docs/audit.md). Past ``MAX_PENDING`` waiting entries (the database is down) new
    ones are dropped and logged rather than growing without bound.
    """

    BATCH = 500
    MAX_PENDING = 50_000

    def __init__(self) -> None:
        self._pending: list[AuditLog] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        atexit.register(self.flush)
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        # The parent's thread does not exist in the child; its entries are the parent's.
        self._pending = []
        self._lock = threading.Lock()
        self._thread = None

    def add(self, entry: AuditLog) -> None:
        with self._lock:
            if len(self._pending) >= self.MAX_PENDING:
                logger.error(
                    "Audit entry %r dropped: %d entries wait already",
                    entry.action,
                    len(self._pending),
                )
                return
            self._pending.append(entry)
            full = len(self._pending) >= self.BATCH
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="audit-batch-writer", daemon=True
                )
                self._thread.start()
        if full:
            self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(settings.AUDIT_DEFERRED_FLUSH_SECONDS)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write the waiting entries now; how many were written."""
        from transcription_platform.audit.models import AuditLog

        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            AuditLog.objects.bulk_create(batch, batch_size=self.BATCH)
        except Exception:
            logger.exception("Could not write %d deferred audit entries", len(batch))
            return 0
        finally:
            # This thread's own connection: closed when unusable or past CONN_MAX_AGE,
            # as a request would.
            close_old_connections()
        return len(batch)


_batch_writer = _BatchWriter()


def flush_deferred_entries() -> int:
    """Write the deferred audit entries of this process now (tests, shutdown hooks).

    Returns:
        How many entries were written.
    """
    return _batch_writer.flush()


def _client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy
    # rewrites REMOTE_ADDR (django-ratelimit's RATELIMIT_IP_META_KEY, a middleware...).
    try:
        return str(ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")))
    except ValueError:
        return None


def log_action(
    action: AuditAction | str,
    *,
    actor: Any = None,
    request: HttpRequest | None = None,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: Any = "",
    meta: Mapping[str, Any] | None = None,
    deferred: bool = False,
) -> AuditLog | None:
    """Append one audit entry; returns it, or ``None`` when writing failed (logged).

    ``actor`` defaults to the request's authenticated user; ``obj`` fills
    ``object_type`` (``app_label.model``) and ``object_id``. ``meta`` is small JSON
    context: keys that look like text, prompts or credentials are dropped.

    ``deferred=True`` (reads on hot paths: "viewed") hands the entry to this process's
    batch writer, which inserts it within ``AUDIT_DEFERRED_FLUSH_SECONDS`` together
    with the others (one ``INSERT`` and one commit for many reads), off the request's
    path; the unsaved entry is returned. Inside a transaction (``ATOMIC_REQUESTS``, a
    test) the entry is written at once, as it could name rows not yet committed.
    """
    if not apps.is_installed("transcription_platform.audit"):
        return None
    from transcription_platform.audit.models import AuditAction, AuditLog

    try:
        action = AuditAction(action)
        if actor is None:
            actor = request_user(request)
        if obj is not None:
            object_type = object_type or obj._meta.label_lower
            object_id = object_id or obj.pk
        user_agent = request.headers.get("User-Agent", "") if request is not None else ""
        entry = AuditLog(
            action=action,
            actor=actor if getattr(actor, "pk", None) is not None else None,
            actor_label=(actor.get_username() if actor is not None else "")[:254],
            object_type=str(object_type)[:100],
            object_id=str(object_id or "")[:64],
            ip=_client_ip(request),
            user_agent=user_agent[:512],
            meta=_safe_meta(meta),
        )
        if deferred and not transaction.get_connection().in_atomic_block:
            _batch_writer.add(entry)
            return entry
        # A savepoint: a failed insert must not poison the caller's transaction.
        with transaction.atomic():
            entry.save(force_insert=True)
            return entry
    except Exception:
        logger.exception("Could not write audit entry %r", str(action))
        return None
