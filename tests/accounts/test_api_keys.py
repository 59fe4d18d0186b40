"""/auth/api-keys/: create/list/revoke, hashed storage, Bearer and X-API-Key auth."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests.fixtures.api import API, assert_error
from transcription_platform.accounts.models import ApiKey
from transcription_platform.audit.models import AuditLog

pytestmark = pytest.mark.django_db
URL = f"{API}/auth/api-keys/"
ME = f"{API}/auth/me/"


def create(client: Client, name: str = "ci server") -> dict:
    response = client.post(URL, {"name": name}, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_shows_the_secret_once_and_stores_a_hash(user, auth_client) -> None:
    created = create(auth_client)
    key = created["key"]
    assert key.startswith(created["prefix"] + "_")
    assert created["prefix"].startswith("tp_")
    stored = ApiKey.objects.get(pk=created["id"])
    assert stored.user == user
    assert key not in repr(ApiKey.objects.filter(pk=stored.pk).values().get())
    listing = auth_client.get(URL)
    assert listing.status_code == 200
    assert key not in listing.content.decode()
    [item] = listing.json()["results"]
    assert (item["name"], item["prefix"]) == ("ci server", created["prefix"])
    assert item["revoked_at"] is None


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_API_KEY"])
def test_key_authenticates_and_records_last_use(user, auth_client, header) -> None:
    key = create(auth_client)["key"]
    value = f"Bearer {key}" if header == "HTTP_AUTHORIZATION" else key
    response = Client(**{header: value}).get(ME)
    assert response.status_code == 200, response.content
    assert response.json()["id"] == user.pk
    assert ApiKey.objects.get().last_used_at is not None


def test_last_use_is_written_at_most_once_a_minute(auth_client) -> None:
    key = create(auth_client)["key"]
    client = Client(HTTP_X_API_KEY=key)
    client.get(ME)
    first = ApiKey.objects.get().last_used_at
    client.get(ME)
    assert ApiKey.objects.get().last_used_at == first
    ApiKey.objects.update(last_used_at=first - timedelta(minutes=2))
    client.get(ME)
    assert ApiKey.objects.get().last_used_at > first - timedelta(seconds=1)


def test_revoked_key_is_401(auth_client) -> None:
    created = create(auth_client)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {created['key']}")
    assert client.get(ME).status_code == 200
    assert auth_client.delete(f"{URL}{created['id']}/").status_code == 204
    assert_error(client.get(ME), 401, "not_authenticated")
    assert_error(Client(HTTP_X_API_KEY=created["key"]).get(ME), 401)
    assert auth_client.delete(f"{URL}{created['id']}/").status_code == 204  # idempotent
    assert auth_client.get(URL).json()["results"][0]["revoked_at"]


def test_wrong_or_malformed_keys_are_401(auth_client) -> None:
    key = create(auth_client)["key"]
    for bad in (key[:-1] + ("A" if key[-1] != "A" else "B"), "tp_", "tp_zz_yy", "tp_" + "0" * 12):
        assert_error(Client(HTTP_X_API_KEY=bad).get(ME), 401)
        assert_error(Client(HTTP_AUTHORIZATION=f"Bearer {bad}").get(ME), 401)


def test_inactive_owner_is_401(user, auth_client) -> None:
    key = create(auth_client)["key"]
    user.is_active = False
    user.save()
    assert_error(Client(HTTP_X_API_KEY=key).get(ME), 401)


def test_other_users_keys_are_404_and_invisible(auth_client, other_client) -> None:
    created = create(auth_client)
    assert other_client.get(URL).json()["count"] == 0
    assert_error(other_client.delete(f"{URL}{created['id']}/"), 404, "not_found")
    assert ApiKey.objects.get().revoked_at is None


def test_creation_and_revocation_are_audited(user, auth_client) -> None:
    created = create(auth_client)
    auth_client.delete(f"{URL}{created['id']}/")
    Client(HTTP_X_API_KEY=created["key"]).get(ME)  # revoked: a failed login
    entries = {e.action: e for e in AuditLog.objects.all()}
    assert set(entries) == {"api_key_created", "api_key_revoked", "login_failed"}
    assert entries["api_key_created"].meta == {
        "prefix": created["prefix"],
        "scopes": ["read", "transcribe"],
    }
    assert entries["login_failed"].meta == {"method": "api_key", "prefix": created["prefix"]}
    assert all(created["key"] not in str(e.meta) for e in entries.values())


def test_name_is_required(auth_client) -> None:
    response = auth_client.post(URL, {"name": "  "}, content_type="application/json")
    assert_error(response, 400)
    assert_error(auth_client.post(URL, {}, content_type="application/json"), 422)


def test_anonymous_is_401(client) -> None:
    assert_error(client.get(URL), 401)
    assert_error(client.post(URL, {"name": "x"}, content_type="application/json"), 401)


def test_admin_revokes_any_users_key(user, auth_client) -> None:
    created = create(auth_client)
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    admin_client = Client()
    admin_client.force_login(root)
    changelist = "/admin/transcription_platform_accounts/apikey/"
    page = admin_client.get(changelist)
    assert page.status_code == 200
    assert created["key"] not in page.content.decode()
    assert admin_client.get(f"{changelist}add/").status_code == 403
    response = admin_client.post(
        changelist, {"action": "revoke", "_selected_action": [created["id"]]}
    )
    assert response.status_code == 302
    assert ApiKey.objects.get().revoked_at is not None
    assert_error(Client(HTTP_X_API_KEY=created["key"]).get(ME), 401)
    entry = AuditLog.objects.get(action="api_key_revoked")
    assert (entry.actor, entry.object_id) == (root, str(created["id"]))


def protected_operations() -> list[tuple[str, str]]:
    """(method, url) of every operation the OpenAPI schema marks as authenticated, with
    path parameters filled by ids that exist nowhere."""
    schema = Client().get(f"{API}/openapi.json").json()
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if not operation.get("security"):
                continue
            url = path
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path":
                    is_uuid = parameter["schema"].get("format") == "uuid"
                    missing = "00000000-0000-0000-0000-000000000000" if is_uuid else "987654"
                    url = url.replace(f"{{{parameter['name']}}}", missing)
            found.append((method, url))
    return found


def test_every_protected_endpoint_takes_an_api_key_and_refuses_a_revoked_one(
    user, auth_client, settings
) -> None:
    # More wrong keys than auth_failure allows from one IP (its own test is below).
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "RATE_LIMITS": {"auth_failure": None},
    }
    operations = protected_operations()
    assert len(operations) >= 8
    created = create(auth_client)
    for header in ("HTTP_X_API_KEY", "HTTP_AUTHORIZATION"):
        value = created["key"] if header == "HTTP_X_API_KEY" else f"Bearer {created['key']}"
        client = Client(**{header: value})
        for method, path in operations:
            response = getattr(client, method)(path, {}, content_type="application/json")
            assert response.status_code != 401, (method, path, response.content)
    auth_client.delete(f"{URL}{created['id']}/")
    revoked = Client(HTTP_X_API_KEY=created["key"])
    for method, path in operations:
        response = getattr(revoked, method)(path, {}, content_type="application/json")
        assert_error(response, 401, "not_authenticated")
