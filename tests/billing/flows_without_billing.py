"""Main API flows, run by test_optional.py in a subprocess whose settings leave the
billing app out (not collected by the default run: the file name has no ``test_``)."""

from __future__ import annotations

import pytest
from django.apps import apps

from tests.fixtures.api import API, assert_error
from tests.fixtures.uploads import upload as post_audio

pytestmark = pytest.mark.django_db


def test_billing_is_really_absent():
    assert not apps.is_installed("transcription_platform.billing")


def test_upload_transcribe_read_list_export(
    settings, auth_client, wav, django_capture_on_commit_callbacks
):
    # Limits set but ignored: no billing app, no quotas.
    settings.TRANSCRIPTION_PLATFORM = {
        **settings.TRANSCRIPTION_PLATFORM,
        "BILLING_DEFAULT_LIMITS": {"concurrent_jobs": 0},
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = post_audio(auth_client, wav)
    assert response.status_code == 201, response.content
    pk = response.json()["id"]
    detail = auth_client.get(f"{API}/transcriptions/{pk}").json()
    assert detail["status"] == "completed"
    assert "cost" not in detail["usage"]
    assert auth_client.get(f"{API}/transcriptions/").json()["count"] == 1
    assert auth_client.get(f"{API}/transcriptions/{pk}/export?format=txt").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert auth_client.delete(f"{API}/transcriptions/{pk}").status_code == 204


def test_usage_endpoints_are_not_mounted(auth_client):
    assert_error(auth_client.get(f"{API}/usage/"), 404, "not_found")


def test_the_dashboard_counts_minutes_from_the_jobs_and_shows_no_cost(user):
    from datetime import timedelta

    from django.test import Client
    from django.utils import timezone

    from tests.fixtures.transcriptions import make_transcription

    user.is_staff = True
    user.save()
    make_transcription(user, "completed", duration=150.0, completed_at=timezone.now())
    make_transcription(
        user, "completed", duration=30.0, completed_at=timezone.now() - timedelta(days=40)
    )
    client = Client()
    client.force_login(user)
    response = client.get("/app/dashboard/")
    assert response.status_code == 200
    assert response.context["usage"]["total_minutes"] == 2.5
    assert response.context["usage"]["currency"] == ""
    body = response.content.decode()
    assert "<dt>Cost (" not in body  # no cost tile
    assert "Cost per day" not in body  # nor chart
