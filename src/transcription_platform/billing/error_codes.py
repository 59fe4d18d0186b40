"""Error codes of the billing app (documented in docs/api.md)."""

from enum import Enum


class BillingErrorCode(str, Enum):  # noqa: UP042 (the shape every app's codes share)
    #: A create would go over a budget (402); details name the limit.
    QUOTA_EXCEEDED = "quota_exceeded"
    #: The usage ledger is append-only (409).
    LEDGER_APPEND_ONLY = "ledger_append_only"
