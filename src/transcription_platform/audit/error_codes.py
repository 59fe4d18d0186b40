"""Error codes of the audit app (see `transcription_platform.error_codes`)."""

from __future__ import annotations

from enum import StrEnum


class AuditErrorCode(StrEnum):
    AUDIT_LOG_APPEND_ONLY = "audit_log_append_only"
