"""``/webhooks/`` CRUD, owner scoping, hostile input, secrets, test events, redelivery."""

from __future__ import annotations

import uuid

import pytest
from standardwebhooks import Webhook

from tests.fixtures.api import API, assert_error

pytestmark = pytest.mark.django_db

URL = f"{API}/webhooks/"


def create(client, url="https://hooks.example.com/tp", events=("transcription.completed",)):
    return client.post(URL, {"url": url, "events": list(events)}, content_type="application/json")


def test_create_shows_the_secret_once(auth_client):
    response = create(auth_client, events=["transcription.completed", "transcription.failed"])
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["enabled"] is True
    assert body["events"] == ["transcription.completed", "transcription.failed"]
    detail = auth_client.get(f"{URL}{body['id']}").json()
    assert "secret" not in detail
    listed = auth_client.get(URL).json()
    assert listed["count"] == 1
    assert "secret" not in listed["results"][0]


def test_another_users_endpoint_is_a_404(auth_client, other_client):
    endpoint_id = create(auth_client).json()["id"]
    for method, path in [
        ("get", ""),
        ("delete", ""),
        ("post", "/rotate-secret"),
        ("post", "/test"),
        ("get", "/deliveries/"),
        ("post", "/deliveries/msg_x/redeliver"),
    ]:
        response = getattr(other_client, method)(f"{URL}{endpoint_id}{path}")
        assert_error(response, 404, "webhook_not_found")
    response = other_client.patch(
        f"{URL}{endpoint_id}", {"enabled": False}, content_type="application/json"
    )
    assert_error(response, 404, "webhook_not_found")
    assert other_client.get(URL).json()["count"] == 0
    assert_error(auth_client.get(f"{URL}{uuid.uuid4()}"), 404, "webhook_not_found")


def test_unauthenticated_is_a_401(client):
    assert_error(client.get(URL), 401)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"url": "ftp://example.com/x", "events": ["transcription.completed"]}, 400,
         "invalid_webhook_url"),
        ({"url": "not a url", "events": ["transcription.completed"]}, 400, "invalid_webhook_url"),
        ({"url": "https://u:p@example.com/", "events": ["transcription.completed"]}, 400,
         "invalid_webhook_url"),
        ({"url": "https://example.com:99999/", "events": ["transcription.completed"]}, 400,
         "invalid_webhook_url"),
        ({"url": "https://example.com:22/", "events": ["transcription.completed"]}, 400,
         "webhook_url_forbidden"),
        ({"url": "http://127.0.0.1/", "events": ["transcription.completed"]}, 400,
         "webhook_url_forbidden"),
        ({"url": "http://[::ffff:169.254.169.254]/", "events": ["transcription.completed"]},
         400, "webhook_url_forbidden"),
        ({"url": "https://example.com/\x00", "events": ["transcription.completed"]}, 400,
         "validation_error"),
        ({"url": "https://example.com/" + "a" * 5000, "events": ["transcription.completed"]},
         422, None),
        ({"url": "https://example.com/", "events": ["nope"]}, 422, None),
        ({"url": "https://example.com/", "events": []}, 422, None),
        ({"url": "https://example.com/", "events": "transcription.completed"}, 422, None),
        ({"url": 12, "events": ["transcription.completed"]}, 422, None),
        ({"url": "https://example.com/", "events": ["transcription.completed"],
          "description": "x\x00y"}, 400, "validation_error"),
    ],
)  # fmt: skip
def test_bad_input_is_a_4xx_in_our_shape(auth_client, payload, status, code):
    response = auth_client.post(URL, payload, content_type="application/json")
    assert_error(response, status, code)


def test_malformed_json_and_non_object_bodies(auth_client):
    assert_error(auth_client.post(URL, "{", content_type="application/json"), 400)
    assert_error(auth_client.post(URL, "[1]", content_type="application/json"), 400)


def test_patch_and_delete(auth_client):
    endpoint_id = create(auth_client).json()["id"]
    response = auth_client.patch(
        f"{URL}{endpoint_id}",
        {"enabled": False, "events": ["transcription.failed"], "description": "ops"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["enabled"] is False
    assert response.json()["events"] == ["transcription.failed"]
    assert_error(auth_client.post(f"{URL}{endpoint_id}/test"), 409, "webhook_disabled")
    assert auth_client.delete(f"{URL}{endpoint_id}").status_code == 204
    assert_error(auth_client.get(f"{URL}{endpoint_id}"), 404, "webhook_not_found")


def test_test_event_is_signed_delivered_and_logged(
    auth_client, receiver, loopback_allowed, django_capture_on_commit_callbacks
):
    created = create(auth_client, url=receiver.url).json()
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post(f"{URL}{created['id']}/test")
    assert response.status_code == 202, response.content
    (request,) = receiver.received
    payload = Webhook(created["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "webhook.test"
    assert request.headers["webhook-id"] == response.json()["id"]

    log = auth_client.get(f"{URL}{created['id']}/deliveries/").json()
    assert log["count"] == 1
    message = log["results"][0]
    assert message["status"] == "succeeded"
    assert message["log"][0]["status_code"] == 204
    assert message["log"][0]["succeeded"] is True


def test_redelivery_keeps_the_webhook_id(
    auth_client, receiver, loopback_allowed, django_capture_on_commit_callbacks
):
    created = create(auth_client, url=receiver.url).json()
    receiver.script.append((400, {}, b"nope"))
    with django_capture_on_commit_callbacks(execute=True):
        message = auth_client.post(f"{URL}{created['id']}/test").json()
    assert (
        auth_client.get(f"{URL}{created['id']}/deliveries/").json()["results"][0]["status"]
        == "failed"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = auth_client.post(f"{URL}{created['id']}/deliveries/{message['id']}/redeliver")
    assert response.status_code == 202
    assert [r.headers["webhook-id"] for r in receiver.received] == [message["id"]] * 2
    result = auth_client.get(f"{URL}{created['id']}/deliveries/").json()["results"][0]
    assert result["status"] == "succeeded"
    assert [a["status_code"] for a in result["log"]] == [400, 204]
    assert_error(
        auth_client.post(f"{URL}{created['id']}/deliveries/msg_{'x' * 100}/redeliver"),
        404,
        "webhook_message_not_found",
    )


def test_rotation_signs_with_both_secrets_for_a_day(
    auth_client, receiver, loopback_allowed, django_capture_on_commit_callbacks
):
    created = create(auth_client, url=receiver.url).json()
    rotated = auth_client.post(f"{URL}{created['id']}/rotate-secret").json()
    assert rotated["secret"] != created["secret"]
    with django_capture_on_commit_callbacks(execute=True):
        auth_client.post(f"{URL}{created['id']}/test")
    (request,) = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(created["secret"]).verify(request.body, request.headers)
    Webhook(rotated["secret"]).verify(request.body, request.headers)
