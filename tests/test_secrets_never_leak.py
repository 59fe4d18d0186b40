"""A user's provider key never leaves the server: not in any API response, admin page,
audit entry, database column or log line."""

from __future__ import annotations

import logging
import re

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client

from tests.fixtures.api import API, bearer_client
from tests.fixtures.storage import use_tmp_storage
from tests.fixtures.transcriptions import make_transcription
from transcription_platform.accounts.models import TranscriptionSettings
from transcription_platform.roles import ROLE_GROUPS

pytestmark = pytest.mark.django_db

MEMBER_KEY = "sk-member-ABCDEFGHIJ0123456789-tail9876"
ADMIN_KEY = "sk-admin-KLMNOPQRST0123456789-tail5432"
SECRETS = (MEMBER_KEY, ADMIN_KEY)


def fragments(secret: str) -> list[str]:
    # The whole key and its long pieces: a truncated or split key is a leak too.
    return [secret, secret[:20], secret[-20:]]


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        for fragment in fragments(secret):
            assert fragment not in text, f"{fragment!r} leaked in {where}"


def set_key(client: Client, key: str) -> None:
    response = client.patch(
        f"{API}/settings/", {"api_key": key, "language": "en"}, content_type="application/json"
    )
    assert response.status_code == 200, response.content


@pytest.fixture
def people(user):
    admin = get_user_model().objects.create_user("boss", "boss@example.com", "pw", is_staff=True)
    admin.groups.add(Group.objects.get(name=ROLE_GROUPS["admin"]))
    admin.is_superuser = True
    admin.save()
    member_client, admin_client = bearer_client(user), bearer_client(admin)
    set_key(member_client, MEMBER_KEY)
    set_key(admin_client, ADMIN_KEY)
    member_client.post(f"{API}/auth/api-keys/", {"name": "script"}, content_type="application/json")
    return {"member": (user, member_client), "admin": (admin, admin_client)}


def path_values(user) -> dict[str, str]:
    """A real id of the caller's own object for every path parameter we know."""
    values = {"key_id": str(user.api_keys.values_list("pk", flat=True).first() or 1)}
    if apps.is_installed("transcription_platform.transcriptions"):
        transcription = make_transcription(
            user,
            "completed",
            _create_files=True,
            text="Hello world.",
            segments=[{"id": 0, "start": 0.0, "end": 1.0, "text": "Hello world."}],
        )
        values["transcription_id"] = str(transcription.pk)
    return values


def query_for(operation: dict) -> dict[str, str]:
    query = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "query" and parameter.get("required"):
            schema = parameter.get("schema", {})
            query[parameter["name"]] = str((schema.get("enum") or ["txt"])[0])
    return query


# GET operations that must answer 200 for the caller's own data (the walk then reads
# real content, not error pages); every other GET may answer an error, never a 500.
MUST_ANSWER = {
    "/auth/me/",
    "/auth/api-keys/",
    "/settings/",
    "/transcriptions/",
    "/transcriptions/{transcription_id}",
    "/transcriptions/{transcription_id}/export",
}


def test_no_get_operation_returns_the_key(people, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    schema = Client().get(f"{API}/openapi.json").json()
    statuses = {}
    for name, (user, client) in people.items():
        values = path_values(user)
        for path, operations in schema["paths"].items():
            if "get" not in operations:
                continue
            url = re.sub(r"{(\w+)}", lambda m: values.get(m[1], "1"), path)  # noqa: B023
            response = client.get(url, query_for(operations["get"]))
            statuses[(name, path.removeprefix(API))] = response.status_code
            body = b"".join(response) if response.streaming else response.content
            assert_no_secret(body.decode(errors="replace"), f"GET {path} as {name}")
            assert_no_secret(str(response.items()), f"headers of GET {path} as {name}")
    for name in people:
        for path in MUST_ANSWER:
            assert statuses[(name, path)] == 200, (name, path)
    assert statuses[("admin", "/audit/")] == 200
    assert statuses[("member", "/audit/")] == 403
    # 503 only from the health check (no worker runs in tests).
    assert all(s < 500 or "health" in path for (_, path), s in statuses.items()), statuses
    assert_no_secret(caplog.text, "logs")


def test_settings_responses_and_errors(people, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    _, client = people["member"]
    for method, payload in [
        ("put", {"api_key": MEMBER_KEY, "engine": "no-such-engine"}),
        ("patch", {"api_key": MEMBER_KEY + " x"}),
        ("patch", {"api_key": MEMBER_KEY * 40}),
        ("put", {"api_key": MEMBER_KEY}),
    ]:
        response = getattr(client, method)(
            f"{API}/settings/", payload, content_type="application/json"
        )
        assert_no_secret(response.content.decode(), f"{method.upper()} /settings/")
    assert_no_secret(caplog.text, "logs")


def test_admin_pages_never_render_the_key(people) -> None:
    admin, _ = people["admin"]
    client = Client()
    client.force_login(admin)
    row = TranscriptionSettings.objects.get(user=people["member"][0])
    base = "/admin/transcription_platform_accounts/transcriptionsettings/"
    for url in (base, f"{base}{row.pk}/change/", "/admin/transcription_platform_audit/auditlog/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_secret(response.content.decode(), url)

    # The admin form sets a new key without ever showing the old one.
    response = client.post(
        f"{base}{row.pk}/change/",
        {
            "user": row.user_id,
            "engine": "",
            "model": "",
            "language": "en",
            "prompt": "",
            "analysis_enabled": "unknown",
            "new_api_key": "sk-replaced-by-admin-000000000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert TranscriptionSettings.objects.get(pk=row.pk).api_key == "sk-replaced-by-admin-000000000"
    client.post(
        f"{base}{row.pk}/change/",
        {
            "user": row.user_id,
            "language": "en",
            "analysis_enabled": "unknown",
            "clear_api_key": "on",
        },
    )
    assert TranscriptionSettings.objects.get(pk=row.pk).api_key == ""


def test_no_table_holds_the_key_in_plaintext(people) -> None:
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            dump.append(repr(cursor.fetchall()))
    assert TranscriptionSettings.objects.count() == 2
    assert_no_secret("\n".join(dump), "the database")


@pytest.fixture
def openai_engine(openai_server, settings, tmp_path):
    """The real OpenAI engine against the local server, which rejects MEMBER_KEY the way
    OpenAI does (echoing a masked key) and accepts any other key."""
    from tests.openai_server import (
        TRANSCRIPTIONS,
        ScriptedResponse,
        default_transcription,
        error_json,
    )

    def respond(request):
        key = request.headers.get("authorization", "").removeprefix("Bearer ")
        if key == MEMBER_KEY:
            masked = f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}"
            return ScriptedResponse(
                status=401,
                json=error_json(f"Incorrect API key provided: {masked}.", code="invalid_api_key"),
            )
        return default_transcription(request)

    openai_server.set_default(TRANSCRIPTIONS, respond)
    use_tmp_storage(settings, tmp_path / "media")
    settings.TRANSCRIPTION_PLATFORM = {
        "ENGINES": {
            name: {
                "BACKEND": "transcription_platform.engines.openai.OpenAIEngine",
                "OPTIONS": {"base_url": openai_server.base_url, "api_key": "site-key-1234"},
            }
            for name in ("default", "voxtral")
        },
        "TASK_RETRY_BACKOFF_SECONDS": 0,
    }
    return openai_server


def run_job(client, tmp_path, capture, **fields):
    from tests.fixtures.audio import write_audio
    from transcription_platform.transcriptions.models import Transcription

    wav = write_audio(tmp_path / "tone.wav", [(1.0, 440)])
    with capture(execute=True), open(wav, "rb") as handle:
        response = client.post(f"{API}/transcriptions/", {"audio_file": handle, **fields})
    assert response.status_code == 201, response.content
    return Transcription.objects.get(pk=response.json()["id"])


def test_a_rejected_user_key_fails_the_job_and_never_reaches_the_logs(
    people, openai_engine, tmp_path, caplog, django_capture_on_commit_callbacks
) -> None:
    caplog.set_level(logging.DEBUG)
    _, client = people["member"]
    failed = run_job(client, tmp_path, django_capture_on_commit_callbacks)

    # The pipeline sent the owner's key, not the site's, and failed permanently.
    [sent] = openai_engine.requests
    assert sent.headers["authorization"] == f"Bearer {MEMBER_KEY}"
    assert failed.status == "failed"
    assert failed.error_code == "user_api_key_rejected"
    assert "your api key was rejected" in failed.error_message.lower()

    detail = client.get(f"{API}/transcriptions/{failed.pk}")
    assert detail.json()["error"]["code"] == "user_api_key_rejected"
    assert_no_secret(detail.content.decode(), "the failed job's detail")
    assert_no_secret(failed.error_message, "the stored error message")
    assert "failed" in caplog.text.lower()  # the failure was logged: the check is real
    assert_no_secret(caplog.text, "logs of the failing job")
    assert "Incorrect API key" not in failed.error_message


def test_without_an_own_key_the_site_key_is_used(
    other_user, openai_engine, tmp_path, django_capture_on_commit_callbacks
) -> None:
    done = run_job(bearer_client(other_user), tmp_path, django_capture_on_commit_callbacks)
    assert done.status == "completed", done.error_message
    assert openai_engine.requests[-1].headers["authorization"] == "Bearer site-key-1234"


def test_a_key_for_another_engine_is_not_sent(
    people, openai_engine, tmp_path, django_capture_on_commit_callbacks
) -> None:
    _, client = people["member"]
    response = client.patch(
        f"{API}/settings/", {"engine": "voxtral"}, content_type="application/json"
    )
    assert response.status_code == 200
    # The member's key is for voxtral: a job they run on another engine uses the site's key.
    done = run_job(client, tmp_path, django_capture_on_commit_callbacks, engine="default")
    assert (done.engine, done.status) == ("default", "completed")
    assert openai_engine.requests[-1].headers["authorization"] == "Bearer site-key-1234"
    rejected = run_job(client, tmp_path, django_capture_on_commit_callbacks)
    assert (rejected.engine, rejected.error_code) == ("voxtral", "user_api_key_rejected")


@pytest.fixture
def sentry_events():
    """sentry-sdk with its Django integration, default options (no PII) and a transport
    that keeps events in memory instead of sending them."""
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.transport import Transport

    events: list[dict] = []

    class KeepEvents(Transport):
        def capture_envelope(self, envelope) -> None:
            events.extend(item.payload.json for item in envelope.items if item.payload.json)

    sentry_sdk.init(
        dsn="http://public@127.0.0.1:9/1",
        transport=KeepEvents,
        integrations=[DjangoIntegration()],
        default_integrations=False,
        auto_enabling_integrations=False,
        shutdown_timeout=0,
    )
    yield events
    sentry_sdk.get_client().close(timeout=0)
    sentry_sdk.init()  # no DSN: a disabled client for the following tests


def test_sentry_events_of_a_failing_request_do_not_carry_the_key(
    people, sentry_events, caplog
) -> None:
    import json

    from transcription_platform.accounts.services import create_api_key

    caplog.set_level(logging.DEBUG)
    user, _ = people["member"]
    _, platform_key = create_api_key(user, "sentry", scopes=["read", "manage"])
    # The provider key can only be set from a sign-in session (not an API key)...
    session = bearer_client(user)
    session.raise_request_exception = False
    # ...and a platform API key authenticates another change: that secret must stay
    # out of the event too.
    client = Client(HTTP_X_API_KEY=platform_key, raise_request_exception=False)
    # Break the table under the requests: the saves fail with the keys in flight.
    table = TranscriptionSettings._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    responses = [
        session.patch(f"{API}/settings/", {"api_key": ADMIN_KEY}, content_type="application/json"),
        client.patch(f"{API}/settings/", {"prompt": "Acme"}, content_type="application/json"),
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
    for response in responses:
        # A missing table is a bug, not an outage: 500 (not the outage's 503).
        assert response.status_code == 500, response.content
        assert_no_secret(response.content.decode(), "the 500 response")
    assert len(sentry_events) >= 2, "the errors reached Sentry"
    frames = json.dumps(sentry_events)
    assert "update_transcription_settings" in frames  # stack frames with their locals
    assert_no_secret(frames, "the Sentry event")
    assert platform_key not in frames
    assert_no_secret(caplog.text, "logs")
