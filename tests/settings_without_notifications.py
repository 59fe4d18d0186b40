"""The test project without the notifications app (it must be optional)."""

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "transcription_platform.notifications"]

if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    # Never the parent run's test database, which is in use while this one runs: the
    # child pytest would otherwise destroy and recreate it under the parent's feet.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": f"test_{DATABASES['default']['NAME']}_without_notifications"  # noqa: F405
    }
