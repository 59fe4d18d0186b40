"""Every audited transcription action writes one entry, with the actor and the object."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse

from tests.fixtures.api import API, assert_error, bearer_client
from tests.fixtures.audio import write_audio
from tests.fixtures.transcriptions import make_transcription
from transcription_platform.audit.models import AuditLog
from transcription_platform.roles import ROLE_GROUPS
from transcription_platform.transcriptions.models import Transcription

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tmp_storage")]
URL = f"{API}/transcriptions/"


def completed_for(owner, **fields) -> Transcription:
    return make_transcription(
        owner,
        "completed",
        _create_files=True,
        engine="default",
        text="Hello there.",
        segments=[{"id": 0, "start": 0.0, "end": 1.0, "text": "Hello there."}],
        progress=100,
        **fields,
    )


def entries(action: str) -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=action))


def test_created(user, auth_client, tmp_path) -> None:
    wav = write_audio(tmp_path / "tone.wav", [(1.0, 440)])
    with open(wav, "rb") as handle:
        response = auth_client.post(URL, {"audio_file": handle}, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 201, response.content
    with open(wav, "rb") as handle:  # an idempotent replay creates nothing: no new entry
        auth_client.post(URL, {"audio_file": handle}, headers={"Idempotency-Key": "k1"})
    [entry] = entries("created")
    assert (entry.actor, entry.object_id) == (user, response.json()["id"])
    assert entry.object_type == "transcription_platform_transcriptions.transcription"


def test_viewed_exported_downloaded_retried_deleted(user, auth_client) -> None:
    transcription = completed_for(user)
    item = f"{URL}{transcription.pk}"
    assert auth_client.get(item).status_code == 200
    assert auth_client.get(f"{item}/export", {"format": "srt"}).status_code == 200
    response = auth_client.get(f"{item}/audio")
    assert response.status_code == 200
    b"".join(response)
    Transcription.objects.filter(pk=transcription.pk).update(status="failed")
    assert auth_client.post(f"{item}/retry").status_code == 200
    assert auth_client.delete(item).status_code == 204

    actions = list(AuditLog.objects.order_by("id").values_list("action", "object_id", "meta"))
    pk = str(transcription.pk)
    assert actions == [
        ("viewed", pk, {}),
        ("exported", pk, {"format": "srt"}),
        ("audio_downloaded", pk, {}),
        ("retried", pk, {}),
        ("deleted", pk, {}),
    ]
    assert {e.actor for e in AuditLog.objects.all()} == {user}
    assert all("Hello there" not in str(e.meta) for e in AuditLog.objects.all())


def test_status_polls_before_completion_are_not_views(user, auth_client) -> None:
    pending = completed_for(user)
    Transcription.objects.filter(pk=pending.pk).update(status="processing")
    assert auth_client.get(f"{URL}{pending.pk}").status_code == 200
    assert entries("viewed") == []


def test_support_access_is_audited_under_the_admin(user) -> None:
    transcription = completed_for(user)
    admin = get_user_model().objects.create_user("boss", "boss@example.com", "pw")
    admin.groups.add(Group.objects.get(name=ROLE_GROUPS["admin"]))
    assert bearer_client(admin).get(f"{URL}{transcription.pk}").status_code == 200
    [entry] = entries("viewed")
    assert entry.actor == admin


def test_refused_access_writes_nothing(user, other_client) -> None:
    transcription = completed_for(user)
    assert_error(other_client.get(f"{URL}{transcription.pk}"), 404)
    assert_error(other_client.delete(f"{URL}{transcription.pk}"), 404)
    assert AuditLog.objects.count() == 0


def test_cancel_is_audited_through_the_api_and_the_admin(user, auth_client, admin_client) -> None:
    by_api = completed_for(user)
    Transcription.objects.filter(pk=by_api.pk).update(status="pending")
    assert auth_client.post(f"{URL}{by_api.pk}/cancel").status_code == 200
    [entry] = entries("cancelled")
    assert (entry.actor, entry.object_id, entry.meta) == (user, str(by_api.pk), {})

    by_admin = completed_for(user)
    Transcription.objects.filter(pk=by_admin.pk).update(status="processing")
    changelist = reverse("admin:transcription_platform_transcriptions_transcription_changelist")
    response = admin_client.post(
        changelist, {"action": "cancel_transcriptions", "_selected_action": [by_admin.pk]}
    )
    assert response.status_code == 302
    by_admin.refresh_from_db()
    assert by_admin.status == "cancelled"
    cancelled = AuditLog.objects.filter(action="cancelled").order_by("id")
    assert [(e.object_id, e.meta) for e in cancelled] == [
        (str(by_api.pk), {}),
        (str(by_admin.pk), {"via": "admin"}),
    ]


def test_a_refused_cancel_writes_nothing(user, auth_client) -> None:
    done = completed_for(user)
    assert_error(auth_client.post(f"{URL}{done.pk}/cancel"), 409)
    assert entries("cancelled") == []
