"""System checks of the analytics app (``transcription_platform_analytics.E001``…)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

#: Most rows a day's totals may be spread over (``ANALYTICS_TOTAL_SHARDS``).
MAX_TOTAL_SHARDS = 1024


def _price_error(where: str, value: Any) -> Error | None:
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        price = None
    if price is None or not price.is_finite() or price < 0:
        return Error(
            f'{where} is {value!r}; expected a decimal string >= 0 such as "0.02".',
            id="transcription_platform_analytics.E001",
        )
    return None


@register(Tags.compatibility, "transcription_platform")
def check_analytics_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E001: prices are non-negative decimals; E002: limits are in range."""
    from transcription_platform.conf import settings

    try:
        values = settings.values
    except ImproperlyConfigured:
        return []  # transcription_platform.E001 reports it
    errors: list[CheckMessage] = []
    error = _price_error(
        "TRANSCRIPTION_PLATFORM['ANALYTICS_PRICE_PER_MINUTE']", values["ANALYTICS_PRICE_PER_MINUTE"]
    )
    if error:
        errors.append(error)
    for plan, price in values["ANALYTICS_PLAN_PRICES"].items():
        error = _price_error(f"TRANSCRIPTION_PLATFORM['ANALYTICS_PLAN_PRICES'][{plan!r}]", price)
        if error:
            errors.append(error)
    for name in ("ANALYTICS_MAX_PERIOD_DAYS", "ANALYTICS_MAX_REFERRAL_CODES"):
        if values[name] < 1:
            errors.append(
                Error(
                    f"TRANSCRIPTION_PLATFORM[{name!r}] is {values[name]!r}; expected 1 or more.",
                    id="transcription_platform_analytics.E002",
                )
            )
    shards = values["ANALYTICS_TOTAL_SHARDS"]
    if not 1 <= shards <= MAX_TOTAL_SHARDS:
        errors.append(
            Error(
                f"TRANSCRIPTION_PLATFORM['ANALYTICS_TOTAL_SHARDS'] is {shards!r}; expected 1 "
                f"to {MAX_TOTAL_SHARDS}.",
                id="transcription_platform_analytics.E002",
            )
        )
    if values["ANALYTICS_CACHE_SECONDS"] < 0:
        errors.append(
            Error(
                "TRANSCRIPTION_PLATFORM['ANALYTICS_CACHE_SECONDS'] must be 0 or more.",
                id="transcription_platform_analytics.E002",
            )
        )
    return errors
