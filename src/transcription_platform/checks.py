"""System checks (``transcription_platform.E001``…) for the library's configuration."""

from __future__ import annotations

import re
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

# Tag of the start-up checks, so `check --tag transcription_platform` runs just these.
TAG = "transcription_platform"


@register(Tags.compatibility, TAG)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """E001: TRANSCRIPTION_PLATFORM is readable (known keys, right types)."""
    from transcription_platform.conf import settings

    settings.reload()
    try:
        settings.values  # noqa: B018  (loading validates)
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="transcription_platform.E001")]
    return []


# --------------------------------------------------------------------------- start-up checks
# What must be right before a process serves traffic; ``manage.py startup_checks``
# runs them with the deployment and database checks and exits non-zero on errors.

_RATE_RE = re.compile(r"^\d+/\d*[smhd]$")


def _library_values() -> dict[str, Any] | None:
    """The validated settings, or None when E001 already reports them unreadable."""
    from transcription_platform.conf import settings

    try:
        return settings.values
    except ImproperlyConfigured:
        return None


def _check_backends(values: dict[str, Any], key: str, default_key: str) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for alias, config in values[key].items():
        where = f"TRANSCRIPTION_PLATFORM[{key!r}][{alias!r}]"
        if not isinstance(config, dict) or not isinstance(config.get("BACKEND"), str):
            errors.append(
                Error(
                    f"{where} must be a dict with a BACKEND dotted path.",
                    id="transcription_platform.E002",
                )
            )
            continue
        if not isinstance(config.get("OPTIONS", {}), dict):
            errors.append(
                Error(f"{where}['OPTIONS'] must be a dict.", id="transcription_platform.E002")
            )
        try:
            import_string(config["BACKEND"])
        except ImportError as exc:
            errors.append(
                Error(
                    f"{where}['BACKEND'] cannot be imported: {exc}",
                    id="transcription_platform.E002",
                )
            )
    if values[default_key] not in values[key]:
        errors.append(
            Error(
                f"TRANSCRIPTION_PLATFORM[{default_key!r}] is {values[default_key]!r}, "
                f"which is not a key of TRANSCRIPTION_PLATFORM[{key!r}].",
                id="transcription_platform.E003",
            )
        )
    return errors


@register(Tags.compatibility, TAG)
def check_library_wiring(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E002-E006: engines, analyzers, storage, rate limits and health checks resolve."""
    from django.conf import settings as django_settings

    values = _library_values()
    if values is None:
        return []
    errors = _check_backends(values, "ENGINES", "DEFAULT_ENGINE")
    errors += _check_backends(values, "ANALYZERS", "DEFAULT_ANALYZER")
    if values["AUDIO_STORAGE"] not in django_settings.STORAGES:
        errors.append(
            Error(
                f"TRANSCRIPTION_PLATFORM['AUDIO_STORAGE'] is {values['AUDIO_STORAGE']!r}, "
                "which is not an alias in STORAGES.",
                id="transcription_platform.E004",
            )
        )
    for scope, rate in values["RATE_LIMITS"].items():
        if rate is not None and not (isinstance(rate, str) and _RATE_RE.match(rate)):
            errors.append(
                Error(
                    f"TRANSCRIPTION_PLATFORM['RATE_LIMITS'][{scope!r}] is {rate!r}; "
                    'expected "<count>/<period>" such as "100/d" or "5/10m", or None.',
                    id="transcription_platform.E005",
                )
            )
    for dotted in values["HEALTH_CHECKS"]:
        try:
            check = import_string(dotted)
        except ImportError as exc:
            errors.append(
                Error(
                    f"Health check {dotted!r} cannot be imported: {exc}",
                    id="transcription_platform.E006",
                )
            )
            continue
        if not callable(check):
            errors.append(
                Error(f"Health check {dotted!r} is not callable.", id="transcription_platform.E006")
            )
    return errors


@register(Tags.security, TAG)
def check_hosts_and_secret(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E010: SECRET_KEY is set. E012: ALLOWED_HOSTS is not empty with DEBUG off."""
    from django.conf import settings as django_settings

    errors: list[CheckMessage] = []
    try:
        django_settings.SECRET_KEY  # noqa: B018  (Django refuses an empty key on access)
    except ImproperlyConfigured:
        errors.append(
            Error(
                "SECRET_KEY is not set.",
                hint="Set DJANGO_SECRET_KEY in the environment (50+ random characters).",
                id="transcription_platform.E010",
            )
        )
    if not django_settings.DEBUG and not django_settings.ALLOWED_HOSTS:
        errors.append(
            Error(
                "ALLOWED_HOSTS is empty with DEBUG off: every request would be rejected.",
                hint="Set DJANGO_ALLOWED_HOSTS to the site's host names, comma-separated.",
                id="transcription_platform.E012",
            )
        )
    return errors


@register(Tags.security, TAG, deploy=True)
def check_deployment(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E011: strong SECRET_KEY. W012: no wildcard host. W013: a cache shared by processes."""
    from django.conf import settings as django_settings

    if django_settings.DEBUG:
        return []
    messages: list[CheckMessage] = []
    try:
        key = django_settings.SECRET_KEY
    except ImproperlyConfigured:  # empty: E010 reports it
        key = ""
    if key and (len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure-")):
        messages.append(
            Error(
                "SECRET_KEY is too weak for production: it signs sessions and JWTs.",
                hint="Use 50+ random characters, e.g. from "
                "django.core.management.utils.get_random_secret_key().",
                id="transcription_platform.E011",
            )
        )
    if "*" in django_settings.ALLOWED_HOSTS:
        messages.append(
            Warning(
                "ALLOWED_HOSTS contains '*': any Host header is accepted, which enables "
                "host-header poisoning of password-reset links and redirects.",
                hint="List the site's host names in DJANGO_ALLOWED_HOSTS.",
                id="transcription_platform.W012",
            )
        )
    backend = django_settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend.endswith(("LocMemCache", "DummyCache")):
        messages.append(
            Warning(
                f"The default cache is {backend.rsplit('.', 1)[-1]}: rate limits are counted "
                "per process, so each web worker allows the full rate.",
                hint="Use a cache every process shares: Redis (REDIS_URL), a database or "
                "a file cache.",
                id="transcription_platform.W013",
            )
        )
    return messages


@register(Tags.database, TAG)
def check_database_connection(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """E014: every database asked for answers (only runs when databases are passed)."""
    from django.db import connections

    errors: list[CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        params = connection.settings_dict
        # Where, never with the password: this message ends up in logs.
        target = f"{connection.vendor} {params.get('HOST') or ''}"
        target += f":{params['PORT']}" if params.get("PORT") else ""
        target = f"{target.strip()} {params.get('NAME')}".strip()
        try:
            connection.ensure_connection()
        except Exception as exc:  # any driver error means "cannot connect"
            errors.append(
                Error(
                    f"Cannot connect to database {alias!r} ({target}): "
                    f"{' '.join(str(exc).split()) or type(exc).__name__}",
                    hint="Check DATABASE_URL and that the database server is running.",
                    id="transcription_platform.E014",
                )
            )
    return errors
