"""Audit entries written by the accounts flows (transcription actions: test_transcriptions)."""

from __future__ import annotations

import pytest

from tests.fixtures.api import API
from transcription_platform.audit.models import AuditLog

pytestmark = pytest.mark.django_db


def test_failed_login_is_audited_without_the_password(user, client) -> None:
    response = client.post(
        f"{API}/auth/login/",
        {"email": "alice@example.com", "password": "Wrong-Password-1"},
        content_type="application/json",
        REMOTE_ADDR="198.51.100.7",
        HTTP_USER_AGENT="pytest",
    )
    assert response.status_code == 400
    entry = AuditLog.objects.get()
    assert entry.action == "login_failed"
    assert entry.actor is None
    assert entry.meta == {"method": "password", "login": "alice@example.com"}
    assert (entry.ip, entry.user_agent) == ("198.51.100.7", "pytest")
    assert "Wrong-Password-1" not in str(entry.meta)


def test_successful_login_writes_no_failure(user, client, password) -> None:
    response = client.post(
        f"{API}/auth/login/",
        {"email": "alice@example.com", "password": password},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert not AuditLog.objects.filter(action="login_failed").exists()
