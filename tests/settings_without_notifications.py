"""The test project without the notifications app (it must be optional)."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "transcription_platform.notifications"]
