"""GET /audit/: who may read it, filters, pagination."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.fixtures.api import API, assert_error, bearer_client
from tests.fixtures.users import make_user
from transcription_platform.audit.models import AuditLog
from transcription_platform.audit.services import log_action

pytestmark = pytest.mark.django_db
URL = f"{API}/audit/"


def test_auditor_and_admin_read_members_do_not(user, auth_client, client) -> None:
    log_action("viewed", actor=user, object_type="x.thing", object_id=1)
    for role in ("auditor", "admin"):
        response = bearer_client(make_user(role, role)).get(URL)
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] == 1
        entry = body["results"][0]
        assert (entry["actor"], entry["actor_id"], entry["action"]) == ("alice", user.pk, "viewed")
    assert_error(auth_client.get(URL), 403, "permission_denied")
    assert_error(bearer_client(make_user("billing", "billing")).get(URL), 403)
    assert_error(client.get(URL), 401, "not_authenticated")


def test_superuser_reads() -> None:
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    assert bearer_client(root).get(URL).status_code == 200


def test_filters(user, other_user) -> None:
    auditor = bearer_client(make_user("aud", "auditor"))
    log_action("viewed", actor=user, object_type="t.transcription", object_id=7)
    log_action("deleted", actor=user, object_type="t.transcription", object_id=8)
    log_action("viewed", actor=other_user, object_type="t.transcription", object_id=7)
    AuditLog.objects.create(action="viewed", created_at=timezone.now() - timedelta(days=3))

    def ids(query: str) -> list[str]:
        response = auditor.get(f"{URL}?{query}")
        assert response.status_code == 200, response.content
        return sorted(f"{e['action']}:{e['object_id']}" for e in response.json()["results"])

    assert ids(f"actor={user.pk}") == ["deleted:8", "viewed:7"]
    assert ids("action=deleted") == ["deleted:8"]
    assert ids("object_type=t.transcription&object_id=7") == ["viewed:7", "viewed:7"]
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert len(ids(f"since={since.replace('+', '%2B')}")) == 3
    assert ids(f"until={since.replace('+', '%2B')}") == ["viewed:"]
    assert_error(auditor.get(f"{URL}?action=nonsense"), 422, "validation_error")


def test_pagination(user) -> None:
    for n in range(5):
        log_action("viewed", actor=user, object_id=n)
    auditor = bearer_client(make_user("aud", "auditor"))
    body = auditor.get(f"{URL}?page_size=2&page=2").json()
    assert body["count"] == 5
    assert [e["object_id"] for e in body["results"]] == ["2", "1"]
    assert body["next"]
    assert body["previous"]
