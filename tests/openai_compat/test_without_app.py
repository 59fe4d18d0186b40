"""A site without ``transcription_platform.openai_compat`` keeps every other flow."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.conf import settings
from django.test import override_settings

from tests.fixtures.api import API
from tests.fixtures.uploads import SPEECH_SAMPLE, upload

pytestmark = pytest.mark.django_db(transaction=True)

WITHOUT = [a for a in settings.INSTALLED_APPS if a != "transcription_platform.openai_compat"]


def test_rest_flows_without_the_app(auth_client):
    with override_settings(INSTALLED_APPS=WITHOUT):
        assert not apps.is_installed("transcription_platform.openai_compat")
        created = upload(auth_client, SPEECH_SAMPLE)
        assert created.status_code == 201, created.content
        pk = created.json()["id"]
        detail = auth_client.get(f"{API}/transcriptions/{pk}").json()
        assert detail["status"] == "completed"
        assert detail["text"]
        export = auth_client.get(f"{API}/transcriptions/{pk}/export?format=srt")
        assert export.status_code == 200
        assert auth_client.get(f"{API}/transcriptions/").json()["count"] == 1
        assert auth_client.get(f"{API}/openapi.json").status_code == 200
