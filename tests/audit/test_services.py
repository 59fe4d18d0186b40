"""log_action, the append-only model, retention purge and the read-only admin."""

from __future__ import annotations

import logging
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, transaction
from django.test import RequestFactory, modify_settings, override_settings
from django.utils import timezone

from transcription_platform.audit.models import AppendOnlyError, AuditAction, AuditLog
from transcription_platform.audit.services import log_action

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("alice", "alice@example.com", "pw")


def test_log_action_records_actor_request_and_object(user) -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="curl/8.5")
    request.user = user
    entry = log_action(AuditAction.DELETED, request=request, obj=user, meta={"reason": "asked"})
    stored = AuditLog.objects.get(pk=entry.pk)
    assert stored.actor == user
    assert stored.actor_label == "alice"
    assert stored.action == "deleted"
    assert (stored.object_type, stored.object_id) == ("auth.user", str(user.pk))
    assert stored.ip == "203.0.113.9"
    assert stored.user_agent == "curl/8.5"
    assert stored.meta == {"reason": "asked"}


def test_meta_never_keeps_text_or_secrets(user) -> None:
    entry = log_action(
        "settings_changed",
        actor=user,
        meta={
            "fields": ["language", "api_key"],
            "api_key": "sk-secret",
            "transcript_text": "hello",
            "Authorization": "Bearer x",
            "prompt": "names",
        },
    )
    assert AuditLog.objects.get(pk=entry.pk).meta == {"fields": ["language", "api_key"]}


def test_oversized_meta_is_replaced(user) -> None:
    entry = log_action("viewed", actor=user, meta={"ids": list(range(2000))})
    assert list(entry.meta) == ["meta_dropped"]


def test_anonymous_and_unparseable_ip(user) -> None:
    request = RequestFactory().post("/", REMOTE_ADDR="not-an-ip")
    entry = log_action("login_failed", request=request, meta={"login": "mallory"})
    assert entry.actor is None
    assert entry.actor_label == ""
    assert entry.ip is None


def test_failure_is_logged_and_does_not_break_the_callers_transaction(user, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="transcription_platform.audit"):
        assert log_action("no_such_action", actor=user) is None
        with transaction.atomic():
            # The insert fails at the database (table gone) inside the caller's
            # transaction: the savepoint keeps that transaction usable (PostgreSQL
            # would otherwise refuse every further query).
            table = AuditLog._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
            assert log_action("viewed", actor=user) is None
            assert get_user_model().objects.filter(pk=user.pk).exists()
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
    assert caplog.text.count("Could not write audit entry") == 2
    assert AuditLog.objects.count() == 0


def test_entries_cannot_be_changed_or_deleted(user) -> None:
    entry = log_action("viewed", actor=user, obj=user)
    entry.action = "deleted"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditLog.objects.all().delete()
    assert AuditLog.objects.get().action == "viewed"


def test_deleting_the_user_keeps_the_trail(user) -> None:
    log_action("viewed", actor=user)
    user.delete()
    entry = AuditLog.objects.get()
    assert entry.actor is None
    assert entry.actor_label == "alice"


def _entry_aged(days: int, user) -> AuditLog:
    return AuditLog.objects.create(
        action="viewed", actor=user, created_at=timezone.now() - timedelta(days=days)
    )


def test_purge_removes_only_entries_past_retention(user) -> None:
    old, recent = _entry_aged(400, user), _entry_aged(10, user)
    out = StringIO()
    call_command("purge_audit_log", "--dry-run", stdout=out)
    assert "Would delete 1" in out.getvalue()
    assert AuditLog.objects.count() == 2
    call_command("purge_audit_log", stdout=out)
    assert list(AuditLog.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not AuditLog.objects.filter(pk=old.pk).exists()
    call_command("purge_audit_log", "--days", "5", stdout=out)
    assert AuditLog.objects.count() == 0


def test_purge_keeps_everything_when_retention_is_none(user) -> None:
    _entry_aged(4000, user)
    out = StringIO()
    with override_settings(TRANSCRIPTION_PLATFORM={"AUDIT_RETENTION_DAYS": None}):
        call_command("purge_audit_log", stdout=out)
    assert "kept forever" in out.getvalue()
    assert AuditLog.objects.count() == 1


def test_admin_is_read_only(user, client) -> None:
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    entry = log_action("viewed", actor=user)
    client.force_login(admin)
    base = "/admin/transcription_platform_audit/auditlog/"
    assert client.get(base).status_code == 200
    assert client.get(f"{base}{entry.pk}/change/").status_code == 200  # view-only page
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}{entry.pk}/delete/").status_code == 403
    response = client.post(f"{base}{entry.pk}/change/", {"action": "deleted"})
    assert response.status_code == 403
    assert AuditLog.objects.get().action == "viewed"


def test_without_the_audit_app_log_action_does_nothing(user) -> None:
    with modify_settings(INSTALLED_APPS={"remove": ["transcription_platform.audit"]}):
        assert log_action("viewed", actor=user) is None
    assert AuditLog.objects.count() == 0
    assert log_action("viewed", actor=user) is not None
