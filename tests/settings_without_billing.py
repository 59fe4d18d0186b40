"""The test project without the optional billing app (see tests/billing/test_optional.py)."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "transcription_platform.billing"]  # noqa: F405
