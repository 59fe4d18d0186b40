"""System checks of the analytics settings."""

from __future__ import annotations

import pytest

from transcription_platform.analytics.checks import check_analytics_settings


def _ids(settings, **values) -> list[str]:
    settings.TRANSCRIPTION_PLATFORM = {**settings.TRANSCRIPTION_PLATFORM, **values}
    return [error.id for error in check_analytics_settings()]


def test_defaults_pass(settings) -> None:
    assert _ids(settings) == []


@pytest.mark.parametrize(
    ("values", "ids"),
    [
        ({"ANALYTICS_PRICE_PER_MINUTE": "abc"}, ["transcription_platform_analytics.E001"]),
        ({"ANALYTICS_PRICE_PER_MINUTE": "-1"}, ["transcription_platform_analytics.E001"]),
        ({"ANALYTICS_PRICE_PER_MINUTE": "NaN"}, ["transcription_platform_analytics.E001"]),
        (
            {"ANALYTICS_PLAN_PRICES": {"Pro": "0.01", "Bad": "x"}},
            ["transcription_platform_analytics.E001"],
        ),
        ({"ANALYTICS_MAX_PERIOD_DAYS": 0}, ["transcription_platform_analytics.E002"]),
        ({"ANALYTICS_MAX_REFERRAL_CODES": -1}, ["transcription_platform_analytics.E002"]),
        ({"ANALYTICS_CACHE_SECONDS": -5}, ["transcription_platform_analytics.E002"]),
        ({"ANALYTICS_TOTAL_SHARDS": 0}, ["transcription_platform_analytics.E002"]),
        ({"ANALYTICS_TOTAL_SHARDS": 1025}, ["transcription_platform_analytics.E002"]),
        ({"ANALYTICS_TOTAL_SHARDS": 1}, []),
        ({"ANALYTICS_PLAN_PRICES": {"Pro": "0.01"}, "ANALYTICS_PRICE_PER_MINUTE": "0.5"}, []),
    ],
)
def test_bad_values_are_reported(settings, values, ids) -> None:
    assert _ids(settings, **values) == ids


def test_a_wrong_type_is_the_core_check_s_error(settings) -> None:
    # conf rejects the type (transcription_platform.E001); this check stays quiet.
    assert _ids(settings, ANALYTICS_MAX_PERIOD_DAYS="10") == []
