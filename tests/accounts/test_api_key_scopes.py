"""API-key scopes: read, transcribe, manage; key management needs a sign-in session.

A leaked key must not mint keys (which would survive its revocation) nor set the
account's provider key; it can do only what its scopes allow (docs/security.md).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from tests.fixtures.api import API, assert_error
from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.uploads import SPEECH_SAMPLE, upload
from transcription_platform.accounts.models import ApiKey, TranscriptionSettings
from transcription_platform.accounts.services import create_api_key
from transcription_platform.transcriptions.models import Transcription

pytestmark = pytest.mark.django_db
KEYS = f"{API}/auth/api-keys/"
SETTINGS = f"{API}/settings/"


def key_client(user, *scopes: str) -> Client:
    _key, secret = create_api_key(user, "script", scopes=scopes or None)
    return Client(HTTP_X_API_KEY=str(secret))


def test_new_keys_default_to_read_and_transcribe(auth_client) -> None:
    response = auth_client.post(KEYS, {"name": "ci"}, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["scopes"] == ["read", "transcribe"]
    assert auth_client.get(KEYS).json()["results"][0]["scopes"] == ["read", "transcribe"]


def test_scopes_are_chosen_at_creation_in_canonical_order(auth_client) -> None:
    body = {"name": "admin", "scopes": ["manage", "read", "manage"]}
    response = auth_client.post(KEYS, body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["scopes"] == ["read", "manage"]
    assert ApiKey.objects.get().scopes == ["read", "manage"]


@pytest.mark.parametrize("scopes", [[], ["admin"], ["read", "write"], "read"])
def test_unknown_or_no_scopes_are_refused(auth_client, scopes) -> None:
    body = {"name": "bad", "scopes": scopes}
    assert_error(auth_client.post(KEYS, body, content_type="application/json"), 422)
    assert not ApiKey.objects.exists()


def test_the_service_refuses_unknown_scopes(user) -> None:
    from transcription_platform.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        create_api_key(user, "bad", scopes=["root"])
    assert caught.value.details[0]["field"] == "scopes"


def test_no_key_can_create_or_revoke_keys_whatever_its_scopes(user) -> None:
    client = key_client(user, "read", "transcribe", "manage")
    other = ApiKey.objects.get()
    response = client.post(KEYS, {"name": "child"}, content_type="application/json")
    assert_error(response, 403, "session_required")
    assert_error(client.delete(f"{KEYS}{other.pk}/"), 403, "session_required")
    assert ApiKey.objects.count() == 1
    assert ApiKey.objects.get().revoked_at is None
    # Listing its siblings is a read.
    assert client.get(KEYS).status_code == 200


def test_only_a_session_sets_the_provider_key(user, auth_client) -> None:
    client = key_client(user, "read", "transcribe", "manage")
    for method in (client.patch, client.put):
        response = method(SETTINGS, {"api_key": "sk-attacker-0123456789"}, "application/json")
        assert_error(response, 403, "session_required")
    assert not TranscriptionSettings.objects.filter(user=user).exclude(api_key="").exists()
    # A manage key changes the other settings; the session sets the key.
    response = client.patch(SETTINGS, {"language": "en"}, content_type="application/json")
    assert response.status_code == 200, response.content
    response = auth_client.patch(SETTINGS, {"api_key": "sk-own-0123456789abcd"}, "application/json")
    assert response.status_code == 200, response.content
    assert response.json()["has_api_key"] is True


def test_a_default_key_cannot_change_settings(user) -> None:
    client = key_client(user)
    response = client.patch(SETTINGS, {"language": "en"}, content_type="application/json")
    error = assert_error(response, 403, "insufficient_scope")
    assert error["details"] == {"required": "manage", "granted": ["read", "transcribe"]}
    assert client.get(SETTINGS).status_code == 200


def test_a_read_key_reads_but_does_not_transcribe(user, tmp_storage) -> None:
    client = key_client(user, "read")
    job = make_transcription(user, "completed")
    assert client.get(f"{API}/transcriptions/").status_code == 200
    assert client.get(f"{API}/transcriptions/{job.pk}").status_code == 200
    assert client.get(f"{API}/auth/me/").status_code == 200
    assert_error(upload(client, SPEECH_SAMPLE), 403, "insufficient_scope")
    assert Transcription.objects.count() == 1
    response = client.post(f"{API}/transcriptions/{job.pk}/cancel")
    assert_error(response, 403, "insufficient_scope")


def test_a_default_key_transcribes_but_does_not_delete(user, tmp_storage) -> None:
    client = key_client(user)
    response = upload(client, SPEECH_SAMPLE)
    assert response.status_code == 201, response.content
    job = make_transcription(user, "failed")
    assert client.post(f"{API}/transcriptions/{job.pk}/retry").status_code == 200
    assert_error(client.delete(f"{API}/transcriptions/{job.pk}"), 403, "insufficient_scope")
    assert Transcription.objects.filter(pk=job.pk).exists()
    manager = key_client(user, "read", "manage")
    assert manager.delete(f"{API}/transcriptions/{job.pk}").status_code == 204


def test_webhooks_need_manage(user) -> None:
    body = {"url": "https://hooks.example.com/tp", "events": ["transcription.completed"]}
    response = key_client(user).post(f"{API}/webhooks/", body, content_type="application/json")
    assert_error(response, 403, "insufficient_scope")
    assert key_client(user, "read").get(f"{API}/webhooks/").status_code == 200


def test_the_openai_compatible_endpoint_needs_transcribe(user, tmp_storage) -> None:
    client = key_client(user, "read")
    assert client.get("/v1/models").status_code == 200
    with SPEECH_SAMPLE.open("rb") as audio:
        response = client.post("/v1/audio/transcriptions", {"file": audio, "model": "whisper-1"})
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert not Transcription.objects.exists()


def test_a_jwt_session_has_every_scope(auth_client, user, tmp_storage) -> None:
    job = make_transcription(user, "failed")
    assert auth_client.delete(f"{API}/transcriptions/{job.pk}").status_code == 204
    response = auth_client.post(KEYS, {"name": "ci"}, content_type="application/json")
    assert response.status_code == 201


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_keys_read_and_transcribe(user) -> None:
    app = "transcription_platform_accounts"
    executor = MigrationExecutor(connection)
    executor.migrate([(app, "0001_roles_settings_api_keys")])
    old = executor.loader.project_state([(app, "0001_roles_settings_api_keys")]).apps
    old.get_model(app, "ApiKey").objects.create(
        user_id=user.pk, name="old", prefix="tp_00000000abcd", secret_hash="0" * 64
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert ApiKey.objects.get(prefix="tp_00000000abcd").scopes == ["read", "transcribe"]


def test_the_schema_documents_403_and_503_on_every_authenticated_operation(client) -> None:
    schema = client.get(f"{API}/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "503" in responses, (method, path)
            if operation.get("security"):
                assert "403" in responses, (method, path)


@pytest.mark.django_db(transaction=True)  # streams authenticate in a pool thread
def test_event_streams_need_read(user) -> None:
    job = make_transcription(user, "pending")
    writer = key_client(user, "transcribe")
    reader = key_client(user)
    assert_error(writer.get(f"{API}/transcriptions/{job.pk}/events"), 403, "insufficient_scope")
    assert_error(writer.post(f"{API}/events/token"), 403, "insufficient_scope")
    # A stream token is a read: the default key gets one.
    assert reader.post(f"{API}/events/token").status_code == 200
