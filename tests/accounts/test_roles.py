"""Roles on Django groups/permissions, and the role-by-endpoint matrix."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import RequestFactory

from tests.fixtures.storage import use_tmp_storage
from tests.fixtures.transcriptions import make_transcription
from tests.fixtures.users import make_user
from transcription_platform import roles
from transcription_platform.accounts.models import ApiKey
from transcription_platform.accounts.services import create_api_key
from transcription_platform.exceptions import AuthenticationFailed, PermissionDenied

pytestmark = pytest.mark.django_db


def test_migrate_creates_the_role_groups_with_their_permissions() -> None:
    granted = {
        group.name: sorted(
            f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()
        )
        for group in Group.objects.filter(name__in=roles.ROLE_GROUPS.values())
    }
    assert granted == {
        "Transcription admins": [
            "transcription_platform_accounts.access_all_transcriptions",
            "transcription_platform_accounts.view_usage",
            "transcription_platform_analytics.view_analytics",
            "transcription_platform_audit.view_auditlog",
        ],
        "Transcription billing": ["transcription_platform_accounts.view_usage"],
        "Transcription auditors": ["transcription_platform_audit.view_auditlog"],
        "Transcription analysts": ["transcription_platform_analytics.view_analytics"],
    }


def test_creating_groups_is_idempotent() -> None:
    roles.create_role_groups()
    roles.create_role_groups()
    assert Group.objects.filter(name__in=roles.ROLE_GROUPS.values()).count() == 4


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (None, ["member"]),
        ("billing", ["member", "billing"]),
        ("auditor", ["member", "auditor"]),
        ("analyst", ["member", "analyst"]),
        ("admin", ["admin", "member", "billing", "auditor", "analyst"]),
    ],
)
def test_user_roles(role, expected) -> None:
    user = make_user("u", role)
    assert roles.user_roles(user) == expected
    assert roles.is_support_admin(user) is (role == "admin")


def test_superuser_has_every_role_and_inactive_users_none() -> None:
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    assert roles.user_roles(root) == list(roles.ROLES)
    assert roles.user_roles(make_user("gone", "admin", is_active=False)) == []


def test_a_site_maps_its_own_group_by_granting_the_permission() -> None:
    support = Group.objects.create(name="Helpdesk")
    support.permissions.add(
        Permission.objects.get(
            content_type__app_label="transcription_platform_accounts",
            codename="access_all_transcriptions",
        )
    )
    user = make_user("helper")
    user.groups.add(support)
    assert roles.is_support_admin(user)


def test_unknown_role_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="Unknown role"):
        roles.require_role("owner")
    with pytest.raises(ValueError, match="Unknown role"):
        roles.has_role(make_user("u"), "owner")


def test_require_role_decorator() -> None:
    @roles.require_role(roles.BILLING)
    def usage(request):
        return "ok"

    request = RequestFactory().get("/")
    request.auth = None
    with pytest.raises(AuthenticationFailed):
        usage(request)
    request.auth = make_user("member")
    with pytest.raises(PermissionDenied, match="billing role"):
        usage(request)
    request.auth = make_user("payer", "billing")
    assert usage(request) == "ok"
    request.auth = make_user("boss", "admin")
    assert usage(request) == "ok"


def test_visible_to_scopes_querysets() -> None:
    alice, bob, boss = make_user("alice"), make_user("bob"), make_user("boss", "admin")
    for owner in (alice, bob):
        create_api_key(owner, f"{owner.username}'s key")
    keys = ApiKey.objects.all()
    assert [k.name for k in roles.visible_to(keys, alice)] == ["alice's key"]
    assert sorted(k.name for k in roles.visible_to(keys, boss)) == ["alice's key", "bob's key"]


# --------------------------------------------------------------------------- role matrix

ANON = "anonymous"
# endpoint → expected status for (anonymous, member, billing, auditor, admin). "{other}"
# is a completed transcription of another user: only the support admin reaches it.
MATRIX = {
    ("get", "/auth/me/"): (401, 200, 200, 200, 200),
    ("get", "/settings/"): (401, 200, 200, 200, 200),
    ("get", "/auth/api-keys/"): (401, 200, 200, 200, 200),
    ("get", "/audit/"): (401, 403, 403, 200, 200),
    ("get", "/transcriptions/"): (401, 200, 200, 200, 200),
    ("get", "/transcriptions/{other}"): (401, 404, 404, 404, 200),
    ("get", "/transcriptions/{other}/export"): (401, 404, 404, 404, 200),
    ("get", "/transcriptions/{other}/audio"): (401, 404, 404, 404, 200),
    ("post", "/transcriptions/{other}/retry"): (401, 404, 404, 404, 409),
    ("delete", "/transcriptions/{other}"): (401, 404, 404, 404, 204),
}
MATRIX_ROLES = (ANON, roles.MEMBER, roles.BILLING, roles.AUDITOR, roles.ADMIN)


@pytest.mark.parametrize(("method", "path"), list(MATRIX))
@pytest.mark.parametrize("role", MATRIX_ROLES)
def test_role_matrix(role, method, path, tmp_path, settings) -> None:
    from django.test import Client

    from tests.fixtures.api import API, bearer_client

    use_tmp_storage(settings, tmp_path)
    other = make_transcription(
        make_user("owner"),
        "completed",
        _create_files=True,
        text="Confidential.",
        segments=[{"id": 0, "start": 0.0, "end": 1.0, "text": "Confidential."}],
    )
    client = Client() if role == ANON else bearer_client(make_user("caller", role))
    response = getattr(client, method)(f"{API}{path.format(other=other.pk)}")
    expected = MATRIX[(method, path)][MATRIX_ROLES.index(role)]
    assert response.status_code == expected, response.content
    body = b"".join(response) if response.streaming else response.content
    # Transcript content reaches nobody but the owner and the support admin.
    assert (b"Confidential" in body) is (
        role == roles.ADMIN
        and path.startswith("/transcriptions/{other}")
        and method == "get"
        and not path.endswith("/audio")
    )


# ---------------------------------------------------------------------- role cache


def test_roles_are_cached_and_cleared_when_groups_change(user, django_assert_num_queries):
    from django.contrib.auth import get_user_model

    fresh = get_user_model().objects.get(pk=user.pk)
    assert not roles.is_support_admin(fresh)
    again = get_user_model().objects.get(pk=user.pk)
    with django_assert_num_queries(0):
        assert not roles.is_support_admin(again)  # from the cache, no permission query

    user.groups.add(Group.objects.get(name=roles.ROLE_GROUPS[roles.ADMIN]))
    assert roles.is_support_admin(get_user_model().objects.get(pk=user.pk))


def test_role_cache_follows_group_permission_and_superuser_changes(user):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    helpdesk = Group.objects.create(name="Desk")
    user.groups.add(helpdesk)
    assert not roles.is_support_admin(get_user_model().objects.get(pk=user.pk))
    helpdesk.permissions.add(Permission.objects.get(codename="access_all_transcriptions"))
    assert roles.is_support_admin(get_user_model().objects.get(pk=user.pk))

    other = get_user_model().objects.create_user("carol", "carol@example.com", "x")
    assert not roles.has_role(other, roles.AUDITOR)
    other.is_superuser = True
    other.save()
    assert roles.has_role(get_user_model().objects.get(pk=other.pk), roles.AUDITOR)


def test_role_cache_can_be_turned_off(user, settings, django_assert_num_queries):
    from django.contrib.auth import get_user_model

    settings.TRANSCRIPTION_PLATFORM = {"ROLE_CACHE_SECONDS": 0}
    roles.is_support_admin(get_user_model().objects.get(pk=user.pk))
    fresh = get_user_model().objects.get(pk=user.pk)
    with django_assert_num_queries(2):
        roles.is_support_admin(fresh)
