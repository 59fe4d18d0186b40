"""Error codes of the analytics app (documented in docs/api.md and docs/analytics.md)."""

from __future__ import annotations

from enum import StrEnum


class AnalyticsErrorCode(StrEnum):
    #: ``from`` is after ``to``, or the period is longer than ANALYTICS_MAX_PERIOD_DAYS (400).
    INVALID_PERIOD = "invalid_period"
    #: A registration carried a referral code that does not exist (400).
    INVALID_REFERRAL_CODE = "invalid_referral_code"
    #: The user already holds ANALYTICS_MAX_REFERRAL_CODES referral codes (409).
    TOO_MANY_REFERRAL_CODES = "too_many_referral_codes"
