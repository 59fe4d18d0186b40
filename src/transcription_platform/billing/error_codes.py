"""Error codes of the billing app (see `transcription_platform.error_codes`)."""

from __future__ import annotations

from enum import StrEnum


class BillingErrorCode(StrEnum):
    #: A create would go over a budget (402); details name the limit.
    QUOTA_EXCEEDED = "quota_exceeded"
    #: The usage ledger is append-only (409).
    LEDGER_APPEND_ONLY = "ledger_append_only"
