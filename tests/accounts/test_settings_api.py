"""/settings/: per-user defaults and the write-only, encrypted provider key."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from tests.fixtures.api import API, assert_error
from tests.fixtures.storage import use_tmp_storage
from transcription_platform.accounts.models import TranscriptionSettings
from transcription_platform.accounts.services import (
    provider_api_key_for,
    transcription_defaults_for,
)
from transcription_platform.audit.models import AuditLog

pytestmark = pytest.mark.django_db
URL = f"{API}/settings/"
KEY = "sk-proj-ZZtop-0123456789-abcdefWXYZ"
ENGINES = {
    "default": {"BACKEND": "transcription_platform.engines.fake.FakeEngine", "OPTIONS": {}},
    "voxtral": {"BACKEND": "transcription_platform.engines.fake.FakeEngine", "OPTIONS": {}},
}


def send(client, method: str, data: dict):
    return getattr(client, method)(URL, data, content_type="application/json")


def test_defaults_without_creating_a_row(auth_client) -> None:
    response = auth_client.get(URL)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "engine": "",
        "model": "",
        "language": "",
        "prompt": "",
        "analysis_enabled": None,
        "has_api_key": False,
        "api_key_last4": None,
        "updated_at": None,
    }
    assert not TranscriptionSettings.objects.exists()


@override_settings(TRANSCRIPTION_PLATFORM={"ENGINES": ENGINES})
def test_put_replaces_and_never_returns_the_key(user, auth_client) -> None:
    body = {"engine": "voxtral", "model": "voxtral-mini-latest", "language": "fr"}
    response = send(auth_client, "put", {**body, "prompt": "Dupont", "api_key": KEY})
    assert response.status_code == 200, response.content
    data = response.json()
    assert KEY not in response.content.decode()
    assert "api_key" not in data
    assert (data["has_api_key"], data["api_key_last4"]) == (True, "WXYZ")
    assert provider_api_key_for(user) == KEY

    # PUT without api_key keeps the key; the other omitted fields return to defaults.
    data = send(auth_client, "put", {"language": "de"}).json()
    assert (data["engine"], data["prompt"], data["language"]) == ("", "", "de")
    assert data["has_api_key"] is True
    assert KEY not in auth_client.get(URL).content.decode()


def test_patch_changes_only_what_is_sent_and_clears_the_key(user, auth_client) -> None:
    send(auth_client, "patch", {"api_key": KEY, "analysis_enabled": True})
    data = send(auth_client, "patch", {"language": "pt-BR"}).json()
    assert (data["language"], data["analysis_enabled"], data["has_api_key"]) == (
        "pt-BR",
        True,
        True,
    )
    data = send(auth_client, "patch", {"api_key": ""}).json()
    assert data["has_api_key"] is False
    assert provider_api_key_for(user) is None
    send(auth_client, "patch", {"api_key": KEY})
    assert send(auth_client, "patch", {"api_key": None}).json()["has_api_key"] is False


def test_short_keys_do_not_show_last4(auth_client) -> None:
    data = send(auth_client, "patch", {"api_key": "short-key"}).json()
    assert (data["has_api_key"], data["api_key_last4"]) == (True, None)


def test_plaintext_is_not_in_the_database(user, auth_client) -> None:
    send(auth_client, "patch", {"api_key": KEY})
    table = TranscriptionSettings._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
        rows = cursor.fetchall()
    dump = repr(rows)
    assert rows
    assert KEY not in dump
    assert KEY[-8:] not in dump


def test_validation_errors_do_not_echo_the_key(auth_client) -> None:
    response = send(auth_client, "patch", {"api_key": f"{KEY} with spaces"})
    error = assert_error(response, 400)
    assert "api_key" in str(error["details"])
    assert KEY not in response.content.decode()
    response = send(auth_client, "patch", {"api_key": KEY * 20})
    assert_error(response, 422)
    assert KEY not in response.content.decode()
    assert_error(send(auth_client, "patch", {"engine": "nope"}), 400)
    assert_error(send(auth_client, "patch", {"language": "english!"}), 400)
    assert_error(send(auth_client, "patch", {"analysis_enabled": "maybe"}), 422)


def test_settings_are_per_user(user, auth_client, other_client) -> None:
    send(auth_client, "patch", {"api_key": KEY, "language": "fr"})
    data = other_client.get(URL).json()
    assert (data["has_api_key"], data["language"]) == (False, "")


def test_changes_are_audited_without_the_key(user, auth_client) -> None:
    send(auth_client, "patch", {"api_key": KEY, "language": "fr"})
    send(auth_client, "patch", {"language": "fr"})  # no change: no entry
    entry = AuditLog.objects.get(action="settings_changed")
    assert entry.actor == user
    assert entry.meta == {"fields": ["api_key", "language"]}
    assert entry.object_type == "transcription_platform_accounts.transcriptionsettings"


@override_settings(TRANSCRIPTION_PLATFORM={"ENGINES": ENGINES})
def test_provider_key_applies_to_the_engine_it_is_for(user, auth_client) -> None:
    send(auth_client, "patch", {"api_key": KEY})
    assert provider_api_key_for(user, engine="default") == KEY
    assert provider_api_key_for(user, engine="voxtral") is None
    send(auth_client, "patch", {"engine": "voxtral"})
    assert provider_api_key_for(user, engine="voxtral") == KEY
    assert provider_api_key_for(user, engine="default") is None


def test_requires_authentication(client) -> None:
    assert_error(client.get(URL), 401)
    assert_error(send(client, "patch", {"language": "fr"}), 401)


@override_settings(TRANSCRIPTION_PLATFORM={"ENGINES": ENGINES})
def test_transcription_defaults_hold_only_what_the_user_set(user, auth_client) -> None:
    assert transcription_defaults_for(user) == {}
    send(auth_client, "patch", {"engine": "voxtral", "language": "fr", "api_key": KEY})
    send(auth_client, "patch", {"analysis_enabled": False})
    assert transcription_defaults_for(user) == {
        "engine": "voxtral",
        "language": "fr",
        "analysis_enabled": False,
    }


def test_uploads_use_the_users_defaults(user, auth_client, tmp_path, settings) -> None:
    from tests.fixtures.audio import write_audio

    # One mechanism (the settings fixture) for both: nesting override_settings and the
    # fixture would restore the overridden ENGINES after the test.
    settings.TRANSCRIPTION_PLATFORM = {"ENGINES": ENGINES}
    use_tmp_storage(settings, tmp_path / "media")
    send(auth_client, "patch", {"engine": "voxtral", "language": "fr", "prompt": "Dupont"})
    with open(write_audio(tmp_path / "tone.wav", [(1.0, 440)]), "rb") as handle:
        response = auth_client.post(f"{API}/transcriptions/", {"audio_file": handle})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["engine"], body["language"]) == ("voxtral", "fr")
