"""Leaving the notifications app out of INSTALLED_APPS keeps everything else working.

The outer test runs the main API flows (and the checks below) in a pytest subprocess
with ``tests.settings_without_notifications``; the checks skip when the app is there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps

from tests.fixtures.api import API, assert_error

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = apps.is_installed("transcription_platform.notifications")

absent_only = pytest.mark.skipif(INSTALLED, reason="runs only without the notifications app")


@pytest.mark.integration
def test_the_main_flows_pass_without_the_app() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--ds=tests.settings_without_notifications",
            "-m",
            "not integration",  # not this test again: it would recurse
            "tests/notifications/test_without_app.py",
            "tests/transcriptions/test_pipeline.py::test_upload_runs_to_completed",
            "tests/transcriptions/test_api.py",
            "-k",
            "without_app or upload_runs or create or list or detail or 404 or cancel "
            "or delete or export",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout


@absent_only
@pytest.mark.django_db
def test_no_webhook_routes(auth_client) -> None:
    assert_error(auth_client.get(f"{API}/webhooks/"), 404)


@absent_only
@pytest.mark.django_db
def test_webhook_url_on_create_is_refused_plainly(auth_client, tmp_path) -> None:
    from tests.fixtures.audio import write_audio
    from tests.fixtures.uploads import upload

    tone = write_audio(tmp_path / "tone.wav", [(1.0, 440)])
    response = upload(auth_client, tone, webhook_url="https://hooks.example.com/")
    assert_error(response, 400, "webhooks_unavailable")
