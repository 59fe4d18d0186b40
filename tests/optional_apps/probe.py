"""Every operation of the OpenAPI schema, called under tests/optional_apps/settings.py.

Not collected by the default run (the file name does not start with ``test_``):
tests/core/test_optional_apps.py runs it in a subprocess per left-out app.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from ninja_jwt.tokens import RefreshToken

from tests.fixtures.api import API, bearer_client
from tests.fixtures.audio import write_audio
from tests.fixtures.storage import use_tmp_storage
from tests.fixtures.transcriptions import make_transcription
from transcription_platform.api import api

pytestmark = pytest.mark.django_db

PASSWORD = "Correct-Horse-42"
# A readiness check may say "not ready" (503) when a dependency is down; never 500.
MAY_BE_UNAVAILABLE = re.compile(r"/health/$")


def operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation, deletions last (they remove what others use)."""
    schema = api.get_openapi_schema()
    found = [(method.upper(), path) for path, ops in schema["paths"].items() for method in ops]
    return sorted(found, key=lambda op: op[0] == "DELETE")


def test_the_left_out_apps_are_really_out() -> None:
    left_out = [name for name in os.environ.get("TP_LEAVE_OUT", "").split(",") if name]
    assert left_out
    for name in left_out:
        assert f"transcription_platform.{name}" not in settings.INSTALLED_APPS
    if "analysis" in left_out:
        assert not any("/analysis" in path for _, path in operations())
    if "audit" in left_out:
        assert not any(path.endswith("/audit/") for _, path in operations())
    if "analytics" in left_out:
        assert not any("/analytics/" in path or "/referrals/" in path for _, path in operations())
    if "billing" in left_out:
        assert not any("/usage/" in path for _, path in operations())
    if "notifications" in left_out:
        assert not any("/webhooks/" in path for _, path in operations())


def test_every_operation_answers_without_a_500(
    tmp_path: Path, django_capture_on_commit_callbacks
) -> None:
    use_tmp_storage(settings, tmp_path / "media")
    user = get_user_model().objects.create_superuser(
        username="alice", email="alice@example.com", password=PASSWORD
    )
    client = bearer_client(user)
    audio = write_audio(tmp_path / "tone.wav", [(2.0, 440), (0.5, None), (1.0, 660)])
    with open(audio, "rb") as handle, django_capture_on_commit_callbacks(execute=True):
        created = client.post(f"{API}/transcriptions/", {"audio_file": handle})
    assert created.status_code == 201, created.content
    transcription_id = created.json()["id"]
    detail = client.get(f"{API}/transcriptions/{transcription_id}")
    assert detail.json()["status"] == "completed", detail.content
    key = client.post(f"{API}/auth/api-keys/", {"name": "probe"}, content_type="application/json")
    refresh = str(RefreshToken.for_user(user))

    bodies = {
        "/auth/registration/": {
            "username": "carol",
            "email": "carol@example.com",
            "password": PASSWORD,
        },
        "/auth/login/": {"username": "alice", "password": PASSWORD},
        "/auth/refresh/": {"refresh": refresh},
        "/auth/logout/": {"refresh": refresh},
        "/auth/api-keys/": {"name": "another"},
        "/settings/": {"language": "en"},
    }
    answers = {}
    for method, path in operations():
        url = path.replace("{transcription_id}", transcription_id).replace(
            "{key_id}", str(key.json()["id"])
        )
        relative = url.removeprefix(API)
        urls = [url]
        if relative.endswith("/export"):
            urls = [f"{url}?format={fmt}" for fmt in ("txt", "srt", "vtt", "json")]
        for target in urls:
            if method == "POST" and relative == "/transcriptions/":
                with open(audio, "rb") as handle:
                    response = client.post(target, {"audio_file": handle})
            else:
                body = bodies.get(relative, {})
                response = client.generic(
                    method, target, json.dumps(body), content_type="application/json"
                )
            answers[f"{method} {target}"] = response.status_code
            allowed_5xx = {503} if MAY_BE_UNAVAILABLE.search(path) else set()
            assert response.status_code < 500 or response.status_code in allowed_5xx, (
                method,
                target,
                response.content[:500],
            )
            if target.endswith("format=json"):
                assert response.status_code == 200
                export = json.loads(response.content)
                assert export["text"]
    if apps.is_installed("transcription_platform.openai_compat"):
        # The OpenAI-compatible face, with whatever else is left out.
        # (An access token: the API key was revoked by the DELETE above.)
        models = client.get("/v1/models")
        answers["GET /v1/models"] = models.status_code
        assert models.status_code == 200, models.content
        assert models.json()["data"]
    # Printed for the parent test's failure message.
    print(json.dumps(answers, indent=1))


def test_the_web_pages_answer_without_a_500(tmp_path: Path) -> None:
    """The pages degrade without the apps they show (no analysis panel, no heartbeats),
    and are simply not there without the web app."""
    use_tmp_storage(settings, tmp_path / "media")
    user = get_user_model().objects.create_superuser(
        username="alice", email="alice@example.com", password=PASSWORD
    )
    done = make_transcription(user, "completed", duration=3.0, _create_files=True)
    failed = make_transcription(user, "failed")
    client = Client()
    client.force_login(user)
    pages = [
        "/app/",
        "/app/upload/",
        "/app/dashboard/",
        f"/app/transcriptions/{done.pk}/",
        f"/app/transcriptions/{done.pk}/audio",
        f"/app/transcriptions/{failed.pk}/",
    ]
    installed = apps.is_installed("transcription_platform.web")
    for page in pages:
        response = client.get(page)
        assert response.status_code == (200 if installed else 404), (page, response.content[:300])
    if installed:
        dashboard = client.get("/app/dashboard/").content.decode()
        assert ("Workers" in dashboard) == apps.is_installed("transcription_platform.health")
        upload = client.get("/app/upload/").content.decode()
        assert ('id="analyze"' in upload) == apps.is_installed("transcription_platform.analysis")
