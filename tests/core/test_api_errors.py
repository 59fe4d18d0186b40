"""The API answers every error in one JSON shape — never an HTML page."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from tests.fixtures.api import API, assert_error

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_path_under_the_api_is_a_json_404(client: Client, debug, settings):
    settings.DEBUG = debug
    assert_error(client.get(f"{API}/no/such/thing"), 404, "not_found")
    assert_error(client.post(f"{API}/auth/login"), 404, "not_found")  # no trailing slash


def test_wrong_method_is_405_in_our_shape(client: Client):
    response = client.get(f"{API}/auth/login/")
    assert_error(response, 405, "method_not_allowed")


def test_unhandled_errors_are_a_json_500_without_details(client: Client, monkeypatch):
    from transcription_platform.accounts import services

    def boom(*args, **kwargs):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(services, "login_user", boom)
    client.raise_request_exception = False
    response = client.post(
        f"{API}/auth/login/", {"email": "a@b.co", "password": "x"}, content_type="application/json"
    )
    error = assert_error(response, 500, "internal_error")
    assert "hunter2" not in response.content.decode()
    assert error["details"] is None


def test_openapi_and_swagger_are_served(client: Client):
    schema = client.get(f"{API}/openapi.json")
    assert schema.status_code == 200
    assert "/rest/api/v1/auth/login/" in schema.json()["paths"]
    docs = client.get(f"{API}/docs")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_every_operation_documents_its_errors(client: Client):
    schema = client.get(f"{API}/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            assert {"422", "429", "500"} <= statuses, (method, path)
            if operation.get("security"):
                assert "401" in statuses, (method, path)
            for status, entry in operation["responses"].items():
                if status >= "400" and not path.endswith("/health/"):
                    ref = entry["content"]["application/json"]["schema"]["$ref"]
                    assert ref.endswith("/ErrorOut"), (method, path, status)
    assert "ErrorOut" in schema["components"]["schemas"]


@override_settings(TRANSCRIPTION_PLATFORM={"NOT_A_SETTING": 1})
def test_unknown_setting_fails_loudly():
    from django.core.exceptions import ImproperlyConfigured

    from transcription_platform.conf import settings

    with pytest.raises(ImproperlyConfigured, match="NOT_A_SETTING"):
        settings.PAGE_SIZE  # noqa: B018


@pytest.mark.parametrize("body", ["[null, null]", '"x"', "1", "null", "\x00"])
def test_json_bodies_must_be_objects(auth_client, body):
    response = auth_client.patch(f"{API}/settings/", body, content_type="application/json")
    assert_error(response, 400, "bad_request")


@pytest.mark.parametrize("method", ["post", "delete"])
def test_unmatched_path_is_a_json_404_even_for_unsafe_methods(method, user):
    # A non-UUID id matches no operation; CSRF checks must not turn it into an HTML 403.
    from django.test import Client

    from tests.fixtures.api import bearer_client

    for client in (Client(enforce_csrf_checks=True), bearer_client(user)):
        client.handler.enforce_csrf_checks = True
        response = getattr(client, method)(f"{API}/transcriptions/null,null/cancel")
        assert_error(response, 404, "not_found")


def test_paginated_and_body_operations_document_404_and_400(client):
    schema = client.get(f"{API}/openapi.json").json()
    assert "404" in schema["paths"][f"{API}/transcriptions/"]["get"]["responses"]
    assert "400" in schema["paths"][f"{API}/auth/refresh/"]["post"]["responses"]


def test_multipart_without_boundary_is_400(auth_client):
    response = auth_client.generic(
        "POST", f"{API}/transcriptions/", b"--x\r\n", content_type="multipart/form-data"
    )
    assert_error(response, 400, "bad_request")


def test_too_many_form_fields_is_400(auth_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    data = {f"f{i}": "x" for i in range(10)}
    assert_error(auth_client.post(f"{API}/transcriptions/", data), 400, "bad_request")


def test_encoded_newline_in_path_is_a_json_404(auth_client):
    assert_error(auth_client.post(f"{API}/transcriptions/%0A/cancel"), 404, "not_found")
