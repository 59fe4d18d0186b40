"""Issue 10: safe defaults for a library dropped into someone else's site.

Registration closed unless the site opts in, health probes never rate limited, and
logins of many people behind one address not blocked by the anonymous limit.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from tests.fixtures.api import API, assert_error


def post(client: Client, path: str, data: dict):
    return client.post(f"{API}{path}", data, content_type="application/json")


@pytest.mark.django_db
@override_settings(TRANSCRIPTION_PLATFORM={})
def test_registration_is_closed_by_default(client: Client) -> None:
    response = post(
        client, "/auth/registration/", {"email": "x@example.com", "password": "Sturdy-pass-91"}
    )
    assert_error(response, 403, "registration_closed")
    assert not get_user_model().objects.filter(email="x@example.com").exists()


@pytest.mark.django_db
@override_settings(TRANSCRIPTION_PLATFORM={"REGISTRATION_OPEN": True})
def test_a_site_opts_in_to_registration(client: Client) -> None:
    response = post(
        client, "/auth/registration/", {"email": "x@example.com", "password": "Sturdy-pass-91"}
    )
    assert response.status_code == 201, response.content


@pytest.mark.django_db(transaction=True)
@override_settings(
    TRANSCRIPTION_PLATFORM={"HEALTH_CHECKS": ["transcription_platform.health.checks.database"]}
)
def test_a_thousand_health_probes_from_one_ip_are_never_limited(
    client: Client, user, password
) -> None:
    # The default anon limit is 100/d: a probe every 10 s would exhaust it in 17 min.
    statuses = {client.get(f"{API}/transcriptions/health/").status_code for _ in range(1000)}
    statuses |= {client.get("/healthz").status_code for _ in range(1000)}
    assert statuses == {200}
    # ...and the same address can still sign in.
    response = post(client, "/auth/login/", {"email": user.email, "password": password})
    assert response.status_code == 200, response.content


@pytest.mark.django_db
@override_settings(TRANSCRIPTION_PLATFORM={"RATE_LIMITS": {"anon": "2/d"}})
def test_an_office_behind_one_ip_can_sign_in_and_refresh(client: Client, password) -> None:
    users = [
        get_user_model().objects.create_user(f"u{i}", f"u{i}@example.com", password)
        for i in range(6)
    ]
    for user in users:
        response = post(client, "/auth/login/", {"email": user.email, "password": password})
        assert response.status_code == 200, response.content
        refresh = response.json()["refresh"]
        assert post(client, "/auth/refresh/", {"refresh": refresh}).status_code == 200


@pytest.mark.django_db
@override_settings(TRANSCRIPTION_PLATFORM={"RATE_LIMITS": {"login_account": "3/10m"}})
def test_guessing_one_accounts_password_from_many_ips_is_throttled(user) -> None:
    for i in range(3):
        other_ip = Client(REMOTE_ADDR=f"127.0.0.{i + 2}")
        response = post(other_ip, "/auth/login/", {"email": user.email, "password": "wrong"})
        assert response.status_code == 400
    response = post(
        Client(REMOTE_ADDR="127.0.0.9"),
        "/auth/login/",
        {"email": user.email.upper(), "password": "wrong"},
    )
    assert_error(response, 429, "rate_limited")
    # Another account is not affected.
    response = post(
        Client(REMOTE_ADDR="127.0.0.9"),
        "/auth/login/",
        {"email": "nobody@example.com", "password": "x"},
    )
    assert response.status_code == 400


@pytest.mark.django_db
@override_settings(TRANSCRIPTION_PLATFORM={"RATE_LIMITS": {"logout": "1/h"}})
def test_logout_has_its_own_per_user_scope(user) -> None:
    from ninja_jwt.tokens import RefreshToken

    from tests.fixtures.api import bearer_client

    client = bearer_client(user)
    first, second = RefreshToken.for_user(user), RefreshToken.for_user(user)
    assert post(client, "/auth/logout/", {"refresh": str(first)}).status_code == 204
    assert_error(post(client, "/auth/logout/", {"refresh": str(second)}), 429, "rate_limited")
