"""The test project without the optional billing app (see tests/billing/test_optional.py)."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "transcription_platform.billing"]  # noqa: F405

if DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    # Never the parent run's test database, which is in use while this one runs: the
    # child pytest would otherwise destroy and recreate it under the parent's feet.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": f"test_{DATABASES['default']['NAME']}_without_billing"  # noqa: F405
    }
