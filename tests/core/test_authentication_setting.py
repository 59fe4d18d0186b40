"""The AUTHENTICATION setting: which auth classes the API tries, session auth with CSRF."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.middleware.csrf import get_token
from django.test import Client, RequestFactory

from tests.fixtures.api import API, assert_error, bearer_client
from transcription_platform.auth import PlatformAuth, SessionAuth, load_authentication

pytestmark = pytest.mark.django_db

KEYS = f"{API}/auth/api-keys/"
WITH_SESSION = [
    "transcription_platform.auth.PlatformAuth",
    "transcription_platform.auth.SessionAuth",
]


@pytest.fixture
def session_auth(settings):
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "AUTHENTICATION": WITH_SESSION,
    }


@pytest.fixture
def session_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def csrf_token(client: Client) -> str:
    """A CSRF token bound to ``client``'s cookie, as a page of the site would embed it."""
    request = RequestFactory().get("/")
    token = get_token(request)
    client.cookies["csrftoken"] = request.META["CSRF_COOKIE"]
    return token


def test_session_is_not_accepted_by_default(session_client):
    assert_error(session_client.get(KEYS), 401, "not_authenticated")


def test_session_get_works_when_listed(session_auth, session_client):
    response = session_client.get(KEYS)
    assert response.status_code == 200, response.content


def test_session_post_without_csrf_token_is_403(session_auth, session_client, user):
    response = session_client.post(KEYS, {"name": "ci"}, content_type="application/json")
    assert_error(response, 403, "permission_denied")
    assert not user.api_keys.exists()


def test_session_post_with_csrf_token_works(session_auth, session_client, user):
    token = csrf_token(session_client)
    response = session_client.post(
        KEYS, {"name": "ci"}, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 201, response.content
    assert user.api_keys.get().name == "ci"


def test_jwt_and_api_keys_need_no_csrf_token_next_to_session_auth(session_auth, user):
    jwt_client = bearer_client(user)
    jwt_client.handler.enforce_csrf_checks = True
    created = jwt_client.post(KEYS, {"name": "ci"}, content_type="application/json")
    assert created.status_code == 201, created.content
    key_client = Client(enforce_csrf_checks=True, headers={"X-API-Key": created.json()["key"]})
    assert key_client.get(KEYS).status_code == 200


def test_no_credentials_is_still_401_next_to_session_auth(session_auth):
    client = Client(enforce_csrf_checks=True)
    assert_error(client.post(KEYS, {"name": "x"}, content_type="application/json"), 401)


def test_load_authentication_builds_instances():
    callbacks = load_authentication(WITH_SESSION)
    assert [type(c) for c in callbacks] == [PlatformAuth, SessionAuth]


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        ([], "at least one"),
        (["transcription_platform.auth.Missing"], "cannot import"),
        ([42], "dotted paths"),
        (["transcription_platform.conf.SETTINGS_NAME"], "not callable"),
    ],
)
def test_bad_authentication_setting_names_the_key(paths, message):
    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        load_authentication(paths)
    assert "AUTHENTICATION" in str(caught.value)
