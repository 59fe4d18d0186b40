"""``/usage/``: own usage, ledger, CSV; roles; budgets; hostile input."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from tests.fixtures.api import API, assert_error, bearer_client
from transcription_platform.billing.models import Budget

pytestmark = pytest.mark.django_db


def grant(user, codename: str) -> None:
    user.user_permissions.add(Permission.objects.get(codename=codename))


def test_summary_and_records_show_own_usage_only(transcribe, auth_client, other_client):
    pk = transcribe()
    summary = auth_client.get(f"{API}/usage/").json()
    assert summary["used"]["audio_seconds"] == 6.0
    assert summary["used"]["cost"] == "0.060000"
    assert summary["used"]["jobs"] == 1
    assert summary["limits"] == {
        "monthly_audio_seconds": None,
        "monthly_cost": None,
        "concurrent_jobs": None,
    }
    assert summary["by_step"][0]["step"] == "transcription"
    assert summary["by_month"][0]["records"] == 1

    page = auth_client.get(f"{API}/usage/records/").json()
    assert page["count"] == 1
    assert page["results"][0]["object_id"] == pk
    assert other_client.get(f"{API}/usage/records/").json()["count"] == 0
    assert other_client.get(f"{API}/usage/").json()["used"]["jobs"] == 0


def test_record_filters(transcribe, auth_client):
    transcribe()
    assert auth_client.get(f"{API}/usage/records/?step=analysis").json()["count"] == 0
    assert auth_client.get(f"{API}/usage/records/?step=transcription").json()["count"] == 1
    future = "2999-01-01T00:00:00Z"
    assert auth_client.get(f"{API}/usage/records/?since={future}").json()["count"] == 0
    assert auth_client.get(f"{API}/usage/records/?until={future}").json()["count"] == 1


def test_csv_export(transcribe, auth_client):
    pk = transcribe()
    response = auth_client.get(f"{API}/usage/records.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,created_at,owner_id,step")
    assert len(lines) == 2
    assert pk in lines[1]


def test_another_users_ledger_needs_a_billing_role(transcribe, user, other_user, other_client):
    transcribe()
    url = f"{API}/usage/records/?user={user.pk}"
    assert other_client.get(url).json()["count"] == 0
    assert_error(other_client.get(f"{API}/usage/users/"), 403, "permission_denied")
    grant(other_user, "view_usage")
    billing = bearer_client(other_user)
    assert billing.get(url).json()["count"] == 1
    totals = billing.get(f"{API}/usage/users/").json()["results"]
    assert totals[0]["owner_label"] == user.username
    assert totals[0]["total_cost"] == "0.060000"
    assert set(totals[0]).isdisjoint({"text", "title", "segments"})


def test_budgets_are_admin_only_to_change_and_audited(user, other_user):
    from transcription_platform.audit.models import AuditLog

    grant(other_user, "view_usage")
    billing = bearer_client(other_user)
    body = {"monthly_audio_seconds": 600, "monthly_cost": "5.5", "concurrent_jobs": 2}
    url = f"{API}/usage/budgets/user/{user.pk}"
    assert_error(billing.put(url, body, content_type="application/json"), 403)
    assert billing.get(url).json()["monthly_audio_seconds"] is None

    grant(other_user, "access_all_transcriptions")
    admin = bearer_client(other_user)
    response = admin.put(url, body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "scope": "user",
        "id": user.pk,
        "monthly_audio_seconds": 600,
        "monthly_cost": "5.5000",
        "concurrent_jobs": 2,
    }
    assert Budget.objects.get(user=user).concurrent_jobs == 2
    entry = AuditLog.objects.get(action="settings_changed", object_type__contains="budget")
    assert entry.actor_id == other_user.pk
    assert entry.meta["after"]["concurrent_jobs"] == 2
    assert admin.get(f"{API}/usage/budgets/").json()["count"] == 1

    group = Group.objects.create(name="team")
    group_url = f"{API}/usage/budgets/group/{group.pk}"
    assert (
        admin.put(group_url, {"concurrent_jobs": 1}, content_type="application/json").json()[
            "scope"
        ]
        == "group"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"monthly_audio_seconds": -1},
        {"monthly_audio_seconds": 10**30},
        {"monthly_cost": "1e400"},
        {"monthly_cost": "NaN"},
        {"concurrent_jobs": "many"},
        {"concurrent_jobs": [1]},
    ],
)
def test_hostile_budget_bodies_are_422(user, other_user, body):
    grant(other_user, "access_all_transcriptions")
    admin = bearer_client(other_user)
    response = admin.put(
        f"{API}/usage/budgets/user/{user.pk}", body, content_type="application/json"
    )
    assert_error(response, 422, "validation_error")


def test_a_nul_in_a_budget_body_is_the_platforms_400(user, other_user):
    grant(other_user, "access_all_transcriptions")
    response = bearer_client(other_user).put(
        f"{API}/usage/budgets/user/{user.pk}",
        {"monthly_cost": "abc\u0000"},
        content_type="application/json",
    )
    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize(
    "path",
    [
        "/usage/budgets/user/999999",
        "/usage/budgets/user/99999999999999999999",
        "/usage/budgets/group/0",
    ],
)
def test_unknown_budget_targets_are_404(other_user, path):
    grant(other_user, "access_all_transcriptions")
    response = bearer_client(other_user).get(f"{API}{path}")
    assert response.status_code in (404, 422), response.content
    assert_error(response, response.status_code)


@pytest.mark.parametrize(
    "query",
    [
        "step=refund",
        "since=yesterday",
        "until=%00",
        "user=-1",
        "user=99999999999999999999999",
        "page=0",
        "page_size=abc",
    ],
)
def test_hostile_record_queries_are_4xx(auth_client, query):
    response = auth_client.get(f"{API}/usage/records/?{query}")
    assert 400 <= response.status_code < 500, response.content
    assert_error(response, response.status_code)


def test_usage_needs_authentication(client):
    assert_error(client.get(f"{API}/usage/"), 401, "not_authenticated")
    assert_error(client.get(f"{API}/usage/records.csv"), 401, "not_authenticated")


def test_a_page_past_the_end_is_404(transcribe, auth_client):
    transcribe()
    assert_error(auth_client.get(f"{API}/usage/records/?page=5"), 404, "page_not_found")
