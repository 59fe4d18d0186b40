"""The user a JWT names is read once and reused for PRINCIPAL_CACHE_SECONDS."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.fixtures.api import API, bearer_client
from transcription_platform.roles import ROLE_GROUPS, has_role

pytestmark = pytest.mark.django_db

ME = f"{API}/transcriptions/"


def user_queries(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(ME).status_code == 200
    return sum('FROM "auth_user"' in q["sql"] for q in ctx.captured_queries)


def test_the_user_is_read_once_then_reused(user) -> None:
    client = bearer_client(user)
    assert user_queries(client) == 1
    assert user_queries(client) == 0


def test_zero_reads_the_user_on_every_request(user, settings) -> None:
    settings.TRANSCRIPTION_PLATFORM = {"PRINCIPAL_CACHE_SECONDS": 0}
    client = bearer_client(user)
    assert user_queries(client) == 1
    assert user_queries(client) == 1


def test_a_deactivation_in_this_process_applies_at_once(user) -> None:
    client = bearer_client(user)
    assert client.get(ME).status_code == 200
    user.is_active = False
    user.save()
    assert client.get(ME).status_code == 401


def test_a_change_made_elsewhere_applies_within_the_timeout(user, settings) -> None:
    settings.TRANSCRIPTION_PLATFORM = {"PRINCIPAL_CACHE_SECONDS": 1}
    client = bearer_client(user)
    assert client.get(ME).status_code == 200
    # Another process deactivates the user: no signal reaches this one.
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert client.get(ME).status_code == 200
    time.sleep(1.1)
    assert client.get(ME).status_code == 401


def test_a_new_role_applies_at_once(user) -> None:
    client = bearer_client(user)
    assert client.get(ME).status_code == 200  # caches the user and, below, their roles
    assert client.get(f"{API}/audit/").status_code == 403
    user.groups.add(Group.objects.get(name=ROLE_GROUPS["auditor"]))
    assert client.get(f"{API}/audit/").status_code == 200
    assert has_role(user, "auditor")


def test_an_invalid_token_is_refused_even_after_a_valid_one(user) -> None:
    client = bearer_client(user)
    assert client.get(ME).status_code == 200
    header = client.defaults["HTTP_AUTHORIZATION"]
    client.defaults["HTTP_AUTHORIZATION"] = header[:-2] + ("AA" if header[-2:] != "AA" else "BB")
    assert client.get(ME).status_code == 401
