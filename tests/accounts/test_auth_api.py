from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from ninja_jwt.token_blacklist.models import BlacklistedToken

from tests.fixtures.api import API, assert_error

pytestmark = pytest.mark.django_db


def post(client: Client, path: str, data: dict):
    return client.post(f"{API}{path}", data, content_type="application/json")


def test_registration_returns_tokens_and_user(client: Client):
    response = post(
        client, "/auth/registration/", {"email": "New@Example.com", "password": "Sturdy-pass-91"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["access"]
    assert body["refresh"]
    assert body["user"]["email"] == "new@example.com"
    assert body["user"]["username"] == "new"
    me = client.get(f"{API}/auth/me/", HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.status_code == 200
    assert me.json()["email"] == "new@example.com"


def test_registration_with_username(client: Client):
    response = post(
        client,
        "/auth/registration/",
        {"email": "c@example.com", "password": "Sturdy-pass-91", "username": "carol"},
    )
    assert response.status_code == 201
    assert get_user_model().objects.get(email="c@example.com").username == "carol"


def test_registration_duplicate_email_is_a_field_error(client: Client, user):
    response = post(
        client, "/auth/registration/", {"email": "ALICE@example.com", "password": "Sturdy-pass-91"}
    )
    error = assert_error(response, 400, "email_taken")
    assert error["details"][0]["field"] == "email"
    assert get_user_model().objects.count() == 1


def test_registration_duplicate_username(client: Client, user):
    response = post(
        client,
        "/auth/registration/",
        {"email": "x@example.com", "password": "Sturdy-pass-91", "username": "Alice"},
    )
    assert_error(response, 400, "username_taken")


def test_registration_applies_password_validators(client: Client):
    response = post(client, "/auth/registration/", {"email": "d@example.com", "password": "123"})
    error = assert_error(response, 400, "weak_password")
    assert error["details"][0]["field"] == "password"
    assert len(error["details"]) >= 2  # too short AND entirely numeric
    assert not get_user_model().objects.exists()


def test_registration_rejects_bad_email(client: Client):
    response = post(client, "/auth/registration/", {"email": "nope", "password": "Sturdy-pass-91"})
    assert_error(response, 400, "validation_error")


def test_registration_missing_field_is_422_in_our_shape(client: Client):
    error = assert_error(
        post(client, "/auth/registration/", {"email": "a@b.co"}), 422, "validation_error"
    )
    assert {"field": "password", "source": "body"}.items() <= error["details"][0].items()


def test_malformed_json_is_a_4xx_in_our_shape(client: Client):
    response = client.post(f"{API}/auth/login/", "{not json", content_type="application/json")
    assert 400 <= response.status_code < 500
    assert_error(response, response.status_code)


@pytest.mark.parametrize("field", ["email", "username"])
def test_login_with_email_or_username(client: Client, user, password, field):
    login = user.email if field == "email" else user.username
    response = post(client, "/auth/login/", {field: login, "password": password})
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == user.pk
    user.refresh_from_db()
    assert user.last_login is not None


def test_login_wrong_password_and_unknown_user_look_the_same(client: Client, user):
    wrong = assert_error(
        post(client, "/auth/login/", {"email": user.email, "password": "nope"}), 400
    )
    unknown = assert_error(
        post(client, "/auth/login/", {"email": "ghost@example.com", "password": "nope"}), 400
    )
    assert wrong == unknown
    assert wrong["code"] == "invalid_credentials"


def test_login_inactive_user_is_refused(client: Client, user, password):
    user.is_active = False
    user.save()
    assert_error(post(client, "/auth/login/", {"email": user.email, "password": password}), 400)


def test_login_needs_an_identifier(client: Client):
    # 400: the schema lets both be left out (it cannot say "one of them" for generators).
    assert_error(post(client, "/auth/login/", {"password": "x"}), 400, "validation_error")
    assert_error(
        post(client, "/auth/login/", {"email": "", "password": "x"}), 400, "validation_error"
    )


def test_refresh_gives_a_working_access_token(client: Client, user, password):
    tokens = post(client, "/auth/login/", {"email": user.email, "password": password}).json()
    response = post(client, "/auth/refresh/", {"refresh": tokens["refresh"]})
    assert response.status_code == 200
    access = response.json()["access"]
    assert client.get(f"{API}/auth/me/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200


def test_refresh_rejects_garbage_and_access_tokens(client: Client, user, password):
    tokens = post(client, "/auth/login/", {"email": user.email, "password": password}).json()
    assert_error(post(client, "/auth/refresh/", {"refresh": "garbage"}), 401, "token_not_valid")
    assert_error(post(client, "/auth/refresh/", {"refresh": tokens["access"]}), 401)


def test_logout_blacklists_the_refresh_token(client: Client, user, password):
    tokens = post(client, "/auth/login/", {"email": user.email, "password": password}).json()
    response = client.post(
        f"{API}/auth/logout/",
        {"refresh": tokens["refresh"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tokens['access']}",
    )
    assert response.status_code == 204
    assert BlacklistedToken.objects.count() == 1
    assert_error(post(client, "/auth/refresh/", {"refresh": tokens["refresh"]}), 401)


def test_logout_refuses_another_users_token(client: Client, user, other_user, password):
    mine = post(client, "/auth/login/", {"email": user.email, "password": password}).json()
    theirs = post(client, "/auth/login/", {"email": other_user.email, "password": password}).json()
    response = client.post(
        f"{API}/auth/logout/",
        {"refresh": theirs["refresh"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {mine['access']}",
    )
    assert_error(response, 400, "token_not_valid")
    assert not BlacklistedToken.objects.exists()


def test_logout_requires_auth(client: Client):
    assert_error(post(client, "/auth/logout/", {"refresh": "x"}), 401, "not_authenticated")


def test_me_requires_auth(client: Client):
    assert_error(client.get(f"{API}/auth/me/"), 401, "not_authenticated")
    assert_error(client.get(f"{API}/auth/me/", HTTP_AUTHORIZATION="Bearer not-a-jwt"), 401)


def test_me_for_a_deleted_user_is_401(auth_client, user):
    user.delete()
    assert_error(auth_client.get(f"{API}/auth/me/"), 401)


@override_settings(TRANSCRIPTION_PLATFORM={"RATE_LIMITS": {"login": "3/m"}})
def test_login_is_rate_limited_per_ip(client: Client, user):
    for _ in range(3):
        assert (
            post(client, "/auth/login/", {"email": user.email, "password": "bad"}).status_code
            == 400
        )
    response = post(client, "/auth/login/", {"email": user.email, "password": "bad"})
    error = assert_error(response, 429, "rate_limited")
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert error["details"]["retry_after"] == retry_after
    # Another address has its own budget.
    other = Client(REMOTE_ADDR="10.1.2.3")
    assert post(other, "/auth/login/", {"email": user.email, "password": "bad"}).status_code == 400


@override_settings(
    TRANSCRIPTION_PLATFORM={"REGISTRATION_OPEN": True, "RATE_LIMITS": {"registration": "1/h"}}
)
def test_registration_is_rate_limited(client: Client):
    assert (
        post(
            client, "/auth/registration/", {"email": "a@x.io", "password": "Sturdy-pass-91"}
        ).status_code
        == 201
    )
    response = post(
        client, "/auth/registration/", {"email": "b@x.io", "password": "Sturdy-pass-91"}
    )
    assert_error(response, 429, "rate_limited")
    assert int(response["Retry-After"]) <= 3600


@override_settings(TRANSCRIPTION_PLATFORM={"RATE_LIMITS": {"user": "2/m"}})
def test_authenticated_default_limit_is_per_user(auth_client, other_client):
    assert auth_client.get(f"{API}/auth/me/").status_code == 200
    assert auth_client.get(f"{API}/auth/me/").status_code == 200
    assert_error(auth_client.get(f"{API}/auth/me/"), 429)
    assert other_client.get(f"{API}/auth/me/").status_code == 200


@override_settings(
    TRANSCRIPTION_PLATFORM={"RATE_LIMITS": {"anon": None, "login": None, "login_account": None}}
)
def test_a_limit_set_to_none_is_disabled(client: Client, user):
    for _ in range(15):
        assert (
            post(client, "/auth/login/", {"email": user.email, "password": "bad"}).status_code
            == 400
        )


def test_refresh_tokens_are_stored_only_as_a_hash(client: Client, user, password):
    from ninja_jwt.token_blacklist.models import OutstandingToken

    tokens = post(client, "/auth/login/", {"email": user.email, "password": password}).json()
    stored = OutstandingToken.objects.get(user=user)
    assert stored.token.startswith("sha256:")
    assert tokens["refresh"] not in stored.token
    # Logout still revokes it (blacklisting goes by jti), and refresh then refuses it.
    auth = {"HTTP_AUTHORIZATION": f"Bearer {tokens['access']}"}
    response = client.post(
        f"{API}/auth/logout/",
        {"refresh": tokens["refresh"]},
        content_type="application/json",
        **auth,
    )
    assert response.status_code == 204
    assert_error(
        post(client, "/auth/refresh/", {"refresh": tokens["refresh"]}), 401, "token_not_valid"
    )


@pytest.mark.parametrize("change", ["deactivate", "delete"])
def test_refresh_refuses_a_deactivated_or_deleted_user(client: Client, user, password, change):
    tokens = post(client, "/auth/login/", {"email": user.email, "password": password}).json()
    assert post(client, "/auth/refresh/", {"refresh": tokens["refresh"]}).status_code == 200
    if change == "deactivate":
        user.is_active = False
        user.save()
    else:
        user.delete()
    assert_error(
        post(client, "/auth/refresh/", {"refresh": tokens["refresh"]}), 401, "token_not_valid"
    )
