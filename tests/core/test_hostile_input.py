"""Hostile text in every input the live OpenAPI schema declares (issue 12, item 5).

Each string input of each operation (path, query, header, JSON and multipart body) is
sent with a NUL character; PostgreSQL cannot store one, so a missed input answers 500
there. The cases are read from the schema, so an operation or field added later is
covered without touching this file. Run it on PostgreSQL too (``DATABASE_URL``).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from tests.fixtures.api import API, assert_error, bearer_client
from tests.fixtures.users import make_user
from transcription_platform.api import api

pytestmark = pytest.mark.django_db

NUL_TEXT = "a\x00b"


def _schema() -> dict[str, Any]:
    return api.get_openapi_schema(path_prefix=API + "/")


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _is_text(schema: dict[str, Any], node: dict[str, Any]) -> bool:
    node = _resolve(schema, node)
    if node.get("type") == "string" and node.get("format") != "binary" and "enum" not in node:
        return True
    return any(_is_text(schema, option) for option in node.get("anyOf", ()))


def _path_value(schema: dict[str, Any], parameter: dict[str, Any]) -> str:
    node = _resolve(schema, parameter.get("schema", {}))
    if node.get("format") == "uuid":
        return str(uuid.uuid4())
    return "1" if node.get("type") == "integer" else "x"


def _cases() -> list[tuple[str, str, str, str, str]]:
    """(method, path, source, field, media type) for every string input."""
    schema = _schema()
    cases = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", ()):
                if parameter["in"] in ("query", "header") and _is_text(
                    schema, parameter.get("schema", {})
                ):
                    cases.append((method, path, parameter["in"], parameter["name"], ""))
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                body = _resolve(schema, content["schema"])
                for name, field in body.get("properties", {}).items():
                    if _is_text(schema, field):
                        cases.append((method, path, "body", name, media))
    return cases


CASES = _cases()


def test_the_schema_yields_the_inputs_the_issue_named():
    fields = {(path.rsplit("/v1", 1)[1], field) for _, path, _, field, _ in CASES}
    for expected in [
        ("/transcriptions/", "title"),
        ("/transcriptions/", "prompt"),
        ("/transcriptions/", "Idempotency-Key"),
        ("/transcriptions/", "search"),
        ("/transcriptions/", "language"),
        ("/settings/", "prompt"),
        ("/auth/api-keys/", "name"),
        ("/auth/login/", "email"),
        ("/auth/registration/", "username"),
        ("/webhooks/", "description"),
    ]:
        assert expected in fields, expected


@pytest.fixture
def admin_client() -> Client:
    # A superuser: no operation stops the request at a role check before its inputs.
    return bearer_client(make_user("root", is_staff=True, is_superuser=True))


def _send(client: Client, method: str, path: str, source: str, field: str, media: str) -> Any:
    schema = _schema()
    operation = schema["paths"][path][method]
    url = path
    for parameter in operation.get("parameters", ()):
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", _path_value(schema, parameter))
    send = getattr(client, method)
    if source == "query":
        return send(f"{url}?{field}=a%00b")
    if source == "header":
        return send(url, headers={field: NUL_TEXT})
    if media == "application/json":
        return send(url, data=json.dumps({field: NUL_TEXT}), content_type="application/json")
    return send(url, data={field: NUL_TEXT})  # multipart


@pytest.mark.parametrize(
    ("method", "path", "source", "field", "media"),
    CASES,
    ids=[f"{m.upper()} {p.rsplit('/v1', 1)[1]} {s}:{f}" for m, p, s, f, _ in CASES],
)
def test_a_nul_character_in_any_string_input_is_a_400(
    admin_client, method, path, source, field, media
):
    response = _send(admin_client, method, path, source, field, media)
    error = assert_error(response, 400, "validation_error")
    assert {"field": field, "source": "form" if media.startswith("multipart") else source} in [
        {"field": d["field"], "source": d["source"]} for d in error["details"]
    ], error
    assert "NUL" in json.dumps(error["details"])


@pytest.mark.parametrize("header", ["X-API-Key", "Authorization", "User-Agent"])
def test_a_nul_character_in_a_credential_or_any_header_is_a_400(header):
    response = Client().get(f"{API}/transcriptions/", headers={header: f"tp_{NUL_TEXT}"})
    error = assert_error(response, 400, "validation_error")
    assert error["details"][0]["source"] == "header"


def test_a_nul_character_in_a_json_key_is_a_400(admin_client):
    response = admin_client.post(
        f"{API}/auth/api-keys/", data=json.dumps({"name\x00": "x"}), content_type="application/json"
    )
    assert_error(response, 400, "validation_error")


def test_nul_free_text_still_reaches_the_operation(admin_client):
    response = admin_client.get(f"{API}/transcriptions/", {"search": "hello", "language": "en"})
    assert response.status_code == 200, response.content


def _datetime_filters() -> list[tuple[str, str]]:
    schema = _schema()
    found = []
    for path, operations in schema["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", ()):
            node = _resolve(schema, parameter.get("schema", {}))
            options = [node, *(_resolve(schema, o) for o in node.get("anyOf", ()))]
            if parameter["in"] == "query" and any(o.get("format") == "date-time" for o in options):
                found.append((path, parameter["name"]))
    return found


DATETIME_FILTERS = _datetime_filters()


def test_every_datetime_filter_the_issue_named_is_found():
    names = {(path.rsplit("/v1", 1)[1], name) for path, name in DATETIME_FILTERS}
    for expected in [
        ("/transcriptions/", "created_after"),
        ("/transcriptions/", "created_before"),
        ("/transcriptions/", "updated_since"),
        ("/audit/", "since"),
        ("/usage/records/", "since"),
        ("/usage/users/", "since"),
    ]:
        assert expected in names, expected


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00+23:00",  # Python accepts it, PostgreSQL does not
        "2026-01-01T00:00:00-16:00",
        "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
        "9999-12-31T23:59:59-01:00",  # after year 9999 once in UTC
        "0.5",
        "1700000000",
    ],
)
@pytest.mark.parametrize(
    ("path", "name"),
    DATETIME_FILTERS,
    ids=[f"{p.rsplit('/v1', 1)[1]}:{n}" for p, n in DATETIME_FILTERS],
)
def test_a_datetime_filter_out_of_range_is_a_422(admin_client, path, name, value):
    response = admin_client.get(path, {name: value})
    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["field"] == name


@pytest.mark.parametrize(
    ("path", "name"),
    DATETIME_FILTERS,
    ids=[f"{p.rsplit('/v1', 1)[1]}:{n}" for p, n in DATETIME_FILTERS],
)
@pytest.mark.parametrize(
    "value", ["2026-01-01T00:00:00+15:59", "2026-01-01T05:30:00", "2026-01-01"]
)
def test_a_datetime_filter_within_range_is_accepted(admin_client, path, name, value):
    response = admin_client.get(path, {name: value})
    assert response.status_code == 200, response.content


def test_iso_datetime_is_returned_in_utc():
    from datetime import UTC, datetime

    from pydantic import TypeAdapter

    from transcription_platform.schemas import IsoDatetime

    adapter = TypeAdapter(IsoDatetime)
    expected = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert adapter.validate_python("2026-01-01T05:30:00+05:30") == expected
    assert adapter.validate_python("2026-01-01T00:00:00") == expected  # no offset: UTC
    assert adapter.validate_python("2026-01-01T05:30:00+05:30").tzinfo is UTC
