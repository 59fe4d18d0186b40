"""``log_action``: the one way anything writes to the audit log.

Call it from services after the action happened::

    from transcription_platform.audit.services import log_action
    log_action("deleted", request=request, obj=transcription)

Writing the entry never breaks the caller: a failure is logged (logger
``transcription_platform.audit``) and ``None`` is returned. Any app may import this
module: without the audit app in ``INSTALLED_APPS``, ``log_action`` does nothing.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.db import models, transaction
from django.http import HttpRequest

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
) -> AuditLog | None:
    """Append one audit entry; returns it, or ``None`` when writing failed (logged).

    ``actor`` defaults to the request's authenticated user; ``obj`` fills
    ``object_type`` (``app_label.model``) and ``object_id``. ``meta`` is small JSON
    context: keys that look like text, prompts or credentials are dropped.
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
        # A savepoint: a failed insert must not poison the caller's transaction.
        with transaction.atomic():
            return AuditLog.objects.create(
                action=action,
                actor=actor if getattr(actor, "pk", None) is not None else None,
                actor_label=(actor.get_username() if actor is not None else "")[:254],
                object_type=str(object_type)[:100],
                object_id=str(object_id or "")[:64],
                ip=_client_ip(request),
                user_agent=user_agent[:512],
                meta=_safe_meta(meta),
            )
    except Exception:
        logger.exception("Could not write audit entry %r", str(action))
        return None
