"""Each optional app can be left out of INSTALLED_APPS: the whole API (and the web pages,
when installed) still answers.

Django cannot uninstall an app inside a running process, so every configuration runs
tests/optional_apps/probe.py in its own pytest subprocess with
tests/optional_apps/settings.py (same database backend as this run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = ROOT / "tests" / "optional_apps" / "probe.py"


#: Every optional app (the core ones: transcription_platform, accounts, transcriptions).
OPTIONAL_APPS = [
    "analysis",
    "analytics",
    "audit",
    "health",
    "billing",
    "notifications",
    "openai_compat",
    "oidc",
    "web",
]


@pytest.mark.parametrize("left_out", [*OPTIONAL_APPS, ",".join(OPTIONAL_APPS)])
def test_api_answers_with_optional_apps_left_out(left_out: str) -> None:
    env = {
        **os.environ,
        "TP_LEAVE_OUT": left_out,
        "DJANGO_SETTINGS_MODULE": "tests.optional_apps.settings",
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(PROBE), "-q", "-x", "-p", "no:cacheprovider", "-s"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "3 passed" in result.stdout
