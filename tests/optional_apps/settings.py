"""The test project with optional apps left out: ``TP_LEAVE_OUT=analysis,audit``.

Used by tests/core/test_optional_apps.py, which runs probe.py under these settings in a
subprocess per configuration (Django cannot drop an installed app mid-process).
"""

import hashlib
import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS, TRANSCRIPTION_PLATFORM

LEFT_OUT = [name for name in os.environ.get("TP_LEAVE_OUT", "").split(",") if name]

INSTALLED_APPS = [
    app for app in INSTALLED_APPS if app not in {f"transcription_platform.{n}" for n in LEFT_OUT}
]
ROOT_URLCONF = "tests.optional_apps.urls"
if "oidc" in LEFT_OUT:
    TRANSCRIPTION_PLATFORM = {
        **TRANSCRIPTION_PLATFORM,
        "AUTHENTICATION": ["transcription_platform.auth.PlatformAuth"],
    }

if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Never the parent run's test database, which is in use while this one runs.
    _name = f"test_{DATABASES['default']['NAME']}_without_{'_'.join(LEFT_OUT) or 'none'}"
    if len(_name) > 63:  # PostgreSQL's limit on identifiers
        _digest = hashlib.sha256(",".join(LEFT_OUT).encode()).hexdigest()[:12]
        _name = f"test_{DATABASES['default']['NAME']}_without_{_digest}"
    DATABASES["default"]["TEST"] = {"NAME": _name}
