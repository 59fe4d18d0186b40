"""The OpenAPI schema says what the code does: ids, media types, headers, names, types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import srt
from ninja import Schema

from tests.fixtures.api import API, assert_error, bearer_client
from tests.fixtures.audio import write_audio
from tests.fixtures.storage import use_tmp_storage
from tests.fixtures.uploads import upload
from transcription_platform.transcriptions.schemas import TranscriptExport

EXPECTED_OPERATION_IDS = [
    "analysis_get",
    "analysis_request",
    "analytics_engines",
    "analytics_funnel",
    "analytics_overview",
    "analytics_retention",
    "analytics_timeseries",
    "api_keys_create",
    "api_keys_list",
    "api_keys_revoke",
    "audit_list",
    "auth_login",
    "auth_logout",
    "auth_me",
    "auth_refresh",
    "auth_register",
    "callbacks_receive",
    "events_token",
    "health_get",
    "referrals_create",
    "referrals_list",
    "settings_get",
    "settings_replace",
    "settings_update",
    "transcriptions_audio",
    "transcriptions_cancel",
    "transcriptions_create",
    "transcriptions_delete",
    "transcriptions_export",
    "transcriptions_get",
    "transcriptions_list",
    "transcriptions_retry",
    "usage_budgets_get",
    "usage_budgets_list",
    "usage_budgets_set",
    "usage_records_csv",
    "usage_records_list",
    "usage_summary",
    "usage_users_list",
    "webhooks_create",
    "webhooks_delete",
    "webhooks_deliveries",
    "webhooks_get",
    "webhooks_list",
    "webhooks_redeliver",
    "webhooks_request_secret",
    "webhooks_rotate_secret",
    "webhooks_test",
    "webhooks_update",
]

#: Names a client generator turns into classes nobody can tell apart.
GENERIC_NAMES = {"Input", "Output", "Schema", "Model", "Body", "Data", "Item", "Response"}


@pytest.fixture(scope="module")
def schema() -> dict:
    from transcription_platform.api import api

    return api.get_openapi_schema()


def operation(schema: dict, path: str, method: str) -> dict:
    return schema["paths"][f"{API}{path}"][method]


def test_operation_ids_are_short_stable_and_pinned(schema):
    ids = [op["operationId"] for ops in schema["paths"].values() for op in ops.values()]
    assert sorted(ids) == EXPECTED_OPERATION_IDS
    assert len(set(ids)) == len(ids)


def test_the_live_schema_is_the_one_tested(client, schema):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    assert response.json()["paths"].keys() == schema["paths"].keys()


def test_export_declares_each_format_with_its_media_type(schema):
    ok = operation(schema, "/transcriptions/{transcription_id}/export", "get")["responses"]["200"]
    # JSON last: generators read a response with the first type they support.
    assert list(ok["content"]) == [
        "text/plain",
        "application/x-subrip",
        "text/vtt",
        "application/json",
    ]
    json_schema = ok["content"]["application/json"]["schema"]
    assert json_schema == {"$ref": "#/components/schemas/TranscriptExport"}
    component = schema["components"]["schemas"]["TranscriptExport"]
    assert component["type"] == "object"
    assert {"id", "text", "segments"} <= set(component["required"])


def test_audio_declares_the_audio_media_types_it_serves(schema):
    from transcription_platform.transcriptions.api import AUDIO_MEDIA_TYPES

    ok = operation(schema, "/transcriptions/{transcription_id}/audio", "get")["responses"]["200"]
    assert "application/json" not in ok["content"]
    assert set(ok["content"]) == {*AUDIO_MEDIA_TYPES.values(), "application/octet-stream"}
    for media in ok["content"].values():
        assert media["schema"] == {"type": "string", "format": "binary"}


def test_create_declares_the_idempotency_key_header(schema):
    create = operation(schema, "/transcriptions/", "post")
    [header] = [p for p in create["parameters"] if p["in"] == "header"]
    assert header["name"] == "Idempotency-Key"
    assert header["schema"] == {"type": "string", "maxLength": 255}


def test_x_api_key_is_a_security_scheme_next_to_bearer(schema):
    from transcription_platform.api import API_KEY_HEADER as DECLARED
    from transcription_platform.auth import API_KEY_HEADER

    assert DECLARED == API_KEY_HEADER
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A platform API key from /auth/api-keys/.",
    }
    assert schemes["PlatformAuth"]["scheme"] == "bearer"
    me = operation(schema, "/auth/me/", "get")
    # The test project lists OidcAuth too (a bearer scheme of its own) ahead of these.
    assert me["security"][-2:] == [{"PlatformAuth": []}, {"ApiKeyHeader": []}]
    assert "security" not in operation(schema, "/auth/login/", "post")


def _platform_schema_classes() -> dict[str, set[type]]:
    """Every ninja Schema our package defines, by class name."""
    import transcription_platform.api  # noqa: F401  (imports every router and its schemas)

    found: dict[str, set[type]] = {}
    stack = list(Schema.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("transcription_platform"):
            found.setdefault(cls.__name__, set()).add(cls)
    return found


def test_component_names_are_unique_and_meaningful(schema):
    components = schema["components"]["schemas"]
    assert not GENERIC_NAMES & set(components), sorted(GENERIC_NAMES & set(components))
    classes = _platform_schema_classes()
    # Two classes with one name would publish one component for both: the second
    # silently replaces the first in every client.
    clashes = {name: sorted(c.__module__ for c in found) for name, found in classes.items()}
    clashes = {name: mods for name, mods in clashes.items() if len(mods) > 1}
    assert not clashes
    for name in components:
        assert len(name) > 3, name
        assert name[0].isupper(), name


# --------------------------------------------------------------------------- behaviour


@pytest.mark.django_db
def test_audio_is_served_with_the_probed_type_not_the_uploaders(auth_client, tmp_path, settings):
    use_tmp_storage(settings, tmp_path / "media")
    path = write_audio(tmp_path / "note.mp3", [(1.0, 440)])
    with open(path, "rb") as handle:
        from django.core.files.uploadedfile import SimpleUploadedFile

        lying = SimpleUploadedFile("note.mp3", handle.read(), content_type="text/html")
    created = auth_client.post(f"{API}/transcriptions/", {"audio_file": lying})
    assert created.status_code == 201, created.content
    response = auth_client.get(f"{API}/transcriptions/{created.json()['id']}/audio")
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/mpeg"
    assert b"".join(response.streaming_content) == Path(path).read_bytes()


@pytest.mark.parametrize(
    ("extension", "media_type"),
    [
        ("wav", "audio/wav"),
        ("flac", "audio/flac"),
        ("mp3", "audio/mpeg"),
        ("ogg", "audio/ogg"),
        ("opus", "audio/ogg"),
        ("m4a", "audio/mp4"),
        ("aac", "audio/aac"),
        ("webm", "audio/webm"),
    ],
)
def test_media_type_follows_the_container_probe_reports(tmp_path, extension, media_type):
    from transcription_platform.engines.audio import probe
    from transcription_platform.transcriptions.api import audio_media_type

    info = probe(str(write_audio(tmp_path / f"a.{extension}", [(0.5, 440)])))
    assert audio_media_type(info.container) == media_type


def test_unknown_container_is_octet_stream():
    from transcription_platform.transcriptions.api import audio_media_type

    assert audio_media_type("hls") == "application/octet-stream"
    assert audio_media_type("") == "application/octet-stream"


@pytest.mark.django_db
def test_json_export_matches_its_declared_schema(
    auth_client, tmp_path, settings, django_capture_on_commit_callbacks
):
    use_tmp_storage(settings, tmp_path / "media")
    with django_capture_on_commit_callbacks(execute=True):  # sync cluster: runs the job
        created = upload(auth_client, write_audio(tmp_path / "t.wav", [(2.0, 440)]))
    pk = created.json()["id"]
    response = auth_client.get(f"{API}/transcriptions/{pk}/export", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) <= set(TranscriptExport.model_fields)
    export = TranscriptExport.model_validate(body)
    assert str(export.id) == pk
    srt_response = auth_client.get(f"{API}/transcriptions/{pk}/export", {"format": "srt"})
    assert len(list(srt.parse(srt_response.content.decode()))) == len(export.segments)


# --------------------------------------------------------------------------- strict types


@pytest.mark.django_db
@pytest.mark.parametrize("value", [0, 1, "true", "", 0.5])
def test_settings_analysis_enabled_is_a_real_boolean(auth_client, value):
    response = auth_client.patch(
        f"{API}/settings/", {"analysis_enabled": value}, content_type="application/json"
    )
    assert_error(response, 422)


@pytest.mark.django_db
@pytest.mark.parametrize("value", [True, False, None])
def test_settings_analysis_enabled_accepts_booleans_and_null(auth_client, value):
    response = auth_client.patch(
        f"{API}/settings/", {"analysis_enabled": value}, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["analysis_enabled"] is value


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["updated_since", "created_after", "created_before"])
@pytest.mark.parametrize("value", ["0.5", "1700000000", "-1", "1e9"])
def test_datetime_filters_refuse_unix_numbers(auth_client, field, value):
    assert_error(auth_client.get(f"{API}/transcriptions/", {field: value}), 422)


@pytest.mark.django_db
def test_datetime_filters_accept_iso_8601(auth_client):
    response = auth_client.get(f"{API}/transcriptions/", {"updated_since": "2026-01-31T12:00:00Z"})
    assert response.status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["since", "until"])
def test_audit_time_filters_refuse_unix_numbers(field):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    assert_error(bearer_client(root).get(f"{API}/audit/", {field: "0.5"}), 422)
    assert bearer_client(root).get(f"{API}/audit/", {field: "2026-01-31T12:00Z"}).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["null", "1", "0", "yes", "on", ""])
def test_create_analyze_is_true_or_false_only(auth_client, tmp_path, value):
    path = write_audio(tmp_path / "t.wav", [(1.0, 440)])
    assert_error(upload(auth_client, path, analyze=value), 422)


def test_every_operation_id_is_in_the_api_guide(schema):
    guide = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    for operation_id in EXPECTED_OPERATION_IDS:
        assert f"`{operation_id}`" in guide, operation_id
