"""Roles (RBAC) built on Django permissions, so a site can map its own groups.

=========  ==========================================================  =====================
role       can                                                          defining permission
=========  ==========================================================  =====================
member     use the API on their own data (every active user)            —
admin      everything, including other users' transcriptions (support)  access_all_transcriptions
billing    read-only usage/cost views, no transcript content            view_usage
auditor    read the audit log                                           audit.view_auditlog
analyst    read product analytics (aggregates, no content)              analytics.view_analytics
=========  ==========================================================  =====================

A user has a role when they hold its defining permission (directly, through any group,
or as a superuser). After ``migrate``, groups named in `ROLE_GROUPS` exist with
those permissions; the admin group holds all of them. Check roles in ninja operations
with `require_role`, below ``@router.get(...)``::

    @router.get("/", auth=platform_auth)
    @require_role("auditor")
    def list_entries(request): ...
"""

from __future__ import annotations

import copy
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db.models import QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
from django.http import HttpRequest

from transcription_platform.conf import settings
from transcription_platform.exceptions import AuthenticationFailed, PermissionDenied

ADMIN, MEMBER, BILLING, AUDITOR, ANALYST = "admin", "member", "billing", "auditor", "analyst"
ROLES = (ADMIN, MEMBER, BILLING, AUDITOR, ANALYST)

ROLE_PERMISSIONS: dict[str, str | None] = {
    ADMIN: "transcription_platform_accounts.access_all_transcriptions",
    MEMBER: None,
    BILLING: "transcription_platform_accounts.view_usage",
    AUDITOR: "transcription_platform_audit.view_auditlog",
    ANALYST: "transcription_platform_analytics.view_analytics",
}

ROLE_GROUPS: dict[str, str] = {
    ADMIN: "Transcription admins",
    BILLING: "Transcription billing",
    AUDITOR: "Transcription auditors",
    ANALYST: "Transcription analysts",
}


def _group_permissions(role: str) -> list[str]:
    if role == ADMIN:
        return [perm for perm in ROLE_PERMISSIONS.values() if perm]
    perm = ROLE_PERMISSIONS[role]
    return [perm] if perm else []


def has_role(user: Any, role: str) -> bool:
    """Whether ``user`` (active, authenticated) has ``role``."""
    if role not in ROLE_PERMISSIONS:
        raise ValueError(f"Unknown role {role!r}; roles are {', '.join(ROLES)}.")
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    perm = ROLE_PERMISSIONS[role]
    return perm is None or perm in _role_permissions(user)


# Every request loads a fresh user, so has_perm would cost two permission queries each
# time (list endpoints ask about the admin role on every call). The answer is kept in
# the cache for ROLE_CACHE_SECONDS and dropped when Django's users, groups or
# permissions change; a custom auth backend's own changes show after the timeout.
_ROLE_CACHE_VERSION = "transcription_platform:roles:version"
_ROLES_ATTR = "_tp_role_permissions"
_PRINCIPAL_ATTR = "_tp_principal"
logger = logging.getLogger("transcription_platform.roles")


def _role_cache_key(user_pk: Any) -> str:
    version = cache.get(_ROLE_CACHE_VERSION, 0)
    return f"transcription_platform:roles:{version}:{user_pk}"


def _role_permissions(user: Any) -> frozenset[str]:
    """The role-defining permissions ``user`` holds, through every auth backend.

    Kept, across requests, in the cache and, for a user from `cached_principal`, on
    the cached user for the next requests of this process.
    """
    principal = user.__dict__.get(_PRINCIPAL_ATTR, False)
    held: frozenset[str] | None = user.__dict__.get(_ROLES_ATTR) if principal else None
    if held is not None:
        return held
    seconds = settings.ROLE_CACHE_SECONDS
    try:
        key = _role_cache_key(user.pk) if seconds else None
        held = cache.get(key) if key else None
    except Exception:
        # The cache is an optimisation here: while it is down, ask the database.
        logger.exception("Role cache unavailable; reading roles from the database")
        key = held = None
    if held is None:
        held = frozenset(p for p in ROLE_PERMISSIONS.values() if p and user.has_perm(p))
        if key:
            try:
                cache.set(key, held, seconds)
            except Exception:
                logger.exception("Role cache unavailable; roles not cached")
    if principal:
        user.__dict__[_ROLES_ATTR] = held
        cached = _principals.get(user.pk)
        if cached is not None:
            # The next copies of the cached principal carry the roles too.
            cached[1].__dict__[_ROLES_ATTR] = held
    return held


def forget_roles(sender: Any = None, instance: Any = None, **kwargs: Any) -> None:
    """Drop cached roles: one user's on save/delete, everyone's when groups or
    permissions are reassigned (m2m changes are rare admin actions)."""
    if instance is not None:
        instance.__dict__.pop(_ROLES_ATTR, None)
    is_user = isinstance(instance, get_user_model())
    if kwargs.get("signal") is not m2m_changed and is_user:
        forget_principal(instance.pk)
    else:
        forget_principal(None)
    try:
        if kwargs.get("signal") is not m2m_changed and is_user:
            cache.delete(_role_cache_key(instance.pk))
            return
        try:
            cache.incr(_ROLE_CACHE_VERSION)
        except ValueError:  # no version yet
            cache.set(_ROLE_CACHE_VERSION, 1, None)
    except Exception:
        # Never fail the admin's save over the cache; cached roles expire on their own
        # within ROLE_CACHE_SECONDS.
        logger.exception("Role cache unavailable; cached roles expire on their own")


# The user an access token names, with their roles, kept in this process for
# PRINCIPAL_CACHE_SECONDS: the API's hot path then reads neither the user row nor the
# role cache on every request. Saves and deletes of users, groups and permissions in
# this process drop entries at once; other processes' changes (a deactivation, a new
# role) show within the timeout.
_principals: dict[Any, tuple[float, Any]] = {}
_PRINCIPALS_MAX = 10_000


def cached_principal(pk: Any, load: Callable[[], Any]) -> Any:
    """The user ``pk`` from this process's short-lived cache, or ``load()``-ed and kept.

    Args:
        pk: The user's primary key (from a verified token).
        load: Reads the active user from the database (raises when there is none).

    Returns:
        A copy of the cached user (with its roles once a request asked for them): a
        request may change its copy without another request seeing it.
    """
    seconds = settings.PRINCIPAL_CACHE_SECONDS
    if not seconds:
        return load()
    now = time.monotonic()
    entry = _principals.get(pk)
    if entry is None or entry[0] <= now:
        user = load()
        if len(_principals) >= _PRINCIPALS_MAX:
            _principals.clear()
        _principals[pk] = (now + seconds, user)
    else:
        user = entry[1]
    principal = copy.copy(user)
    principal.__dict__[_PRINCIPAL_ATTR] = True
    return principal


def forget_principal(pk: Any) -> None:
    """Drop the cached user ``pk`` (``None``: every user) in this process."""
    if pk is None:
        _principals.clear()
    else:
        _principals.pop(pk, None)


def user_roles(user: Any) -> list[str]:
    """The roles ``user`` has, in `ROLES` order."""
    return [role for role in ROLES if has_role(user, role)]


def is_support_admin(user: Any) -> bool:
    """Whether ``user`` may act on other users' objects (support)."""
    return has_role(user, ADMIN)


def visible_to(queryset: QuerySet[Any], user: Any, owner_field: str = "user") -> QuerySet[Any]:
    """``queryset`` narrowed to what ``user`` may see: everything for a support admin,
    their own rows otherwise (another user's object then answers 404, not 403)."""
    if is_support_admin(user):
        return queryset
    return queryset.filter(**{owner_field: user})


def request_user(request: HttpRequest | None) -> Any:
    """The authenticated user of a request (ninja's ``request.auth`` or the session)."""
    if request is None:
        return None
    for candidate in (getattr(request, "auth", None), getattr(request, "user", None)):
        if candidate is not None and getattr(candidate, "is_authenticated", False):
            return candidate
    return None


def require_role(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a ninja operation: the caller needs at least one of ``roles`` (403)."""
    for role in roles:
        if role not in ROLE_PERMISSIONS:
            raise ValueError(f"Unknown role {role!r}; roles are {', '.join(ROLES)}.")

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            user = request_user(request)
            if user is None:
                raise AuthenticationFailed()
            if not any(has_role(user, role) for role in roles):
                raise PermissionDenied(f"This needs the {' or '.join(roles)} role.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def set_managed_roles(user: Any, roles: set[str]) -> tuple[set[str], set[str]]:
    """Make ``user``'s role-group memberships exactly ``roles`` (an identity provider
    manages them); groups outside :data:`ROLE_GROUPS` are left alone.

    Args:
        user: The user.
        roles: Role names among :data:`ROLE_GROUPS` (``member`` needs no group).

    Returns:
        The managed roles before and after, to audit a change.

    Raises:
        ValueError: A role has no group.
    """
    unknown = set(roles) - set(ROLE_GROUPS)
    if unknown:
        raise ValueError(f"Roles without a group: {', '.join(sorted(unknown))}.")
    held = set(user.groups.filter(name__in=ROLE_GROUPS.values()).values_list("name", flat=True))
    before = {role for role, name in ROLE_GROUPS.items() if name in held}
    # Only touch what differs: every change invalidates everyone's cached roles.
    for role in before - roles:
        user.groups.remove(Group.objects.get(name=ROLE_GROUPS[role]))
    for role in roles - before:
        group, _ = Group.objects.get_or_create(name=ROLE_GROUPS[role])
        user.groups.add(group)
    return before, set(roles)


def create_role_groups(apps: Any = None, using: str = "default", **kwargs: Any) -> None:
    """post_migrate: make sure the default role groups exist with their permissions.

    Runs after every app's migrations: a permission whose app is not installed (or not
    migrated yet) is skipped and picked up by a later run.
    """
    from django.apps import apps as global_apps

    apps = apps or global_apps
    try:
        Group = apps.get_model("auth", "Group")
        Permission = apps.get_model("auth", "Permission")
    except LookupError:
        return
    for role, group_name in ROLE_GROUPS.items():
        group, _ = Group.objects.using(using).get_or_create(name=group_name)
        for dotted in _group_permissions(role):
            app_label, codename = dotted.split(".", 1)
            permission = (
                Permission.objects.using(using)
                .filter(content_type__app_label=app_label, codename=codename)
                .first()
            )
            if permission is not None:
                group.permissions.add(permission)


def connect_signals() -> None:
    post_migrate.connect(create_role_groups, dispatch_uid="transcription_platform.role_groups")
    User = get_user_model()
    for signal in (post_save, post_delete):
        signal.connect(forget_roles, sender=User, dispatch_uid=f"tp.roles.{signal!r}")
    for through in (
        User.groups.through,
        User.user_permissions.through,
        Group.permissions.through,
    ):
        m2m_changed.connect(forget_roles, sender=through, dispatch_uid=f"tp.roles.{through}")
