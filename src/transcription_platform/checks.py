"""System checks (``transcription_platform.E001``…) for the library's configuration."""

from __future__ import annotations

import os
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


# "your_openai_api_key_here", "<your key>", "sk-xxxx", "changeme", "REPLACE_ME"...: what
# templates and tutorials put where a secret goes. No real provider key looks like it.
_PLACEHOLDER_RE = re.compile(
    r"^(?:your[\W_]|<.*>$|(?:sk-)?x{4,}$|\.\.\.$|\*+$)"
    r"|(?:^|[\W_])(?:here|placeholder|changeme|change[\W_]me|replace[\W_]?me|dummy|todo)"
    r"(?:$|[\W_])",
    re.IGNORECASE,
)


def looks_like_placeholder(value: str | None) -> bool:
    """Whether ``value`` is a template placeholder rather than a real secret.

    Args:
        value: A configured secret, such as an API key.

    Returns:
        True for values like ``your_openai_api_key_here``, ``<api key>``, ``sk-xxxx``
        or ``changeme``; False for empty values and anything that may be a real key.
    """
    return bool(value) and bool(_PLACEHOLDER_RE.search(str(value).strip()))


@register(Tags.compatibility, TAG)
def check_placeholder_api_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W030: an engine's or analyzer's API key is a template placeholder.

    Such a backend is configured but fails with an authentication error as soon as a
    request picks it. Checked: ``OPTIONS['api_key']`` and, for OpenAI backends without
    one, the ``OPENAI_API_KEY`` environment variable the SDK falls back to.
    """
    values = _library_values()
    if values is None:
        return []
    warnings: list[CheckMessage] = []
    for key in ("ENGINES", "ANALYZERS"):
        for alias, config in values[key].items():
            if not isinstance(config, dict) or not isinstance(config.get("OPTIONS", {}), dict):
                continue  # E002 reports it
            options = config.get("OPTIONS", {})
            source = f"TRANSCRIPTION_PLATFORM[{key!r}][{alias!r}]['OPTIONS']['api_key']"
            api_key = options.get("api_key")
            if not api_key and "openai" in str(config.get("BACKEND", "")).lower():
                source, api_key = (
                    "the OPENAI_API_KEY environment variable",
                    os.environ.get("OPENAI_API_KEY"),
                )
            if looks_like_placeholder(api_key):
                warnings.append(
                    Warning(
                        f"The API key of {key[:-1].lower()} {alias!r} ({source}) looks like a "
                        "placeholder: every request that uses it will fail authentication.",
                        hint="Set the real key, or remove the entry so that the backend is "
                        "not offered until it has one.",
                        id="transcription_platform.W030",
                    )
                )
    return warnings


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
                hint="Set SECRET_KEY to 50+ random characters, read from the environment.",
                id="transcription_platform.E010",
            )
        )
    if not django_settings.DEBUG and not django_settings.ALLOWED_HOSTS:
        errors.append(
            Error(
                "ALLOWED_HOSTS is empty with DEBUG off: every request would be rejected.",
                hint="Set ALLOWED_HOSTS to the site's host names.",
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
                hint="List the site's host names in ALLOWED_HOSTS.",
                id="transcription_platform.W012",
            )
        )
    messages.extend(check_rate_limit_cache())
    return messages


#: Cache backends whose ``incr`` is one atomic server-side operation. The others
#: (FileBasedCache, DatabaseCache, LocMemCache across processes) read, add and write
#: back, so concurrent requests read the same count and all get in (issue 12: 13 of 50
#: concurrent requests admitted under a limit of 10 with FileBasedCache).
ATOMIC_CACHE_BACKENDS = (
    "django.core.cache.backends.redis.RedisCache",
    "django.core.cache.backends.memcached.PyMemcacheCache",
    "django.core.cache.backends.memcached.PyLibMCCache",
    "django_redis.cache.RedisCache",
)


def check_rate_limit_cache() -> list[CheckMessage]:
    """W013: rate limits are counted in a cache every process shares, atomically.

    Returns:
        A warning naming the cache (``RATELIMIT_USE_CACHE``, ``default`` unless set)
        when its backend is per process or counts with a read-then-write.
    """
    from django.conf import settings as django_settings

    alias = getattr(django_settings, "RATELIMIT_USE_CACHE", "default")
    backend = django_settings.CACHES.get(alias, {}).get("BACKEND", "")
    if backend in ATOMIC_CACHE_BACKENDS:
        return []
    name = backend.rsplit(".", 1)[-1] or "missing"
    if backend.endswith(("LocMemCache", "DummyCache")):
        problem = "rate limits are counted per process, so each web worker allows the full rate"
    else:
        problem = (
            "it counts rate-limit hits with a read-then-write, so concurrent requests over-admit"
        )
    return [
        Warning(
            f"The rate-limit cache {alias!r} is {name}: {problem}.",
            hint=f"Point CACHES[{alias!r}] at Django's RedisCache (or a memcached backend), "
            "whose increments are atomic (docs: operations.md#cache).",
            id="transcription_platform.W013",
        )
    ]


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
                    hint="Check DATABASES and that the database server is running.",
                    id="transcription_platform.E014",
                )
            )
    return errors


# --------------------------------------------------------------------------- optional extras
# A feature that is configured but whose package is missing must stop the process at
# start-up with the pip line that fixes it, never surface as a 500 on every request.

#: (what is configured, importable module, extra that installs it)
_REDIS = ("redis", "redis")
_BACKEND_PACKAGES: tuple[tuple[str, tuple[str, str]], ...] = (
    ("django.core.cache.backends.redis.", _REDIS),
    ("django_redis.", ("django_redis", "redis")),
    ("storages.backends.s3", ("storages", "s3")),
    ("django.db.backends.postgresql", ("psycopg", "postgres")),
    ("transcription_platform.engines.faster_whisper.", ("faster_whisper", "local")),
)


def _configured_backends() -> list[tuple[str, str]]:
    """``(where, dotted backend)`` for every cache, storage, database, broker and engine."""
    from django.conf import settings as django_settings

    found = [
        (f"CACHES[{alias!r}]", str(conf.get("BACKEND", "")))
        for alias, conf in django_settings.CACHES.items()
    ]
    found += [
        (f"STORAGES[{alias!r}]", str(conf.get("BACKEND", "")))
        for alias, conf in django_settings.STORAGES.items()
        if isinstance(conf, dict)  # django-stubs types STORAGES values as object
    ]
    found += [
        (f"DATABASES[{alias!r}]", str(conf.get("ENGINE", "")))
        for alias, conf in django_settings.DATABASES.items()
    ]
    if "redis" in (getattr(django_settings, "Q_CLUSTER", None) or {}):
        found.append(("Q_CLUSTER['redis']", "django.core.cache.backends.redis.broker"))
    values = _library_values() or {}
    for alias, conf in (values.get("ENGINES") or {}).items():
        if isinstance(conf, dict):
            found.append(
                (f"TRANSCRIPTION_PLATFORM['ENGINES'][{alias!r}]", str(conf.get("BACKEND")))
            )
    return found


def _module_missing(module: str) -> bool:
    import importlib.util

    if module == "psycopg":  # Django takes either psycopg 3 or psycopg2
        return all(importlib.util.find_spec(name) is None for name in ("psycopg", "psycopg2"))
    return importlib.util.find_spec(module) is None


@register(Tags.compatibility, TAG)
def check_optional_packages(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """E015: every configured cache, storage, database, broker and engine can be imported."""
    errors: list[CheckMessage] = []
    for where, backend in _configured_backends():
        for prefix, (module, extra) in _BACKEND_PACKAGES:
            if backend.startswith(prefix) and _module_missing(module):
                errors.append(
                    Error(
                        f"{where} uses {backend.rsplit('.', 1)[0]}, but the Python package "
                        f"{module!r} is not installed.",
                        hint=f'pip install "transcription-platform[{extra}]"',
                        id="transcription_platform.E015",
                    )
                )
    return errors


@register(Tags.compatibility, TAG)
def check_default_engine(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """W014: the default engine is an OpenAI engine with no key anywhere."""
    import os

    values = _library_values()
    if values is None:
        return []
    engine = (values.get("ENGINES") or {}).get(values.get("DEFAULT_ENGINE"))
    if not isinstance(engine, dict):
        return []  # E002/E003 report a missing or malformed engine
    backend = str(engine.get("BACKEND", ""))
    options = engine.get("OPTIONS") or {}
    if not backend.startswith("transcription_platform.engines.openai."):
        return []
    if options.get("api_key") or os.environ.get("OPENAI_API_KEY"):
        return []
    return [
        Warning(
            f"The default engine {values['DEFAULT_ENGINE']!r} is {backend.rsplit('.', 1)[-1]} "
            "with no API key: jobs of users without their own provider key will fail.",
            hint="Set OPTIONS['api_key'] or OPENAI_API_KEY, or make an offline engine the "
            'default (FasterWhisperEngine, pip install "transcription-platform[local]"); '
            "see docs/engines.md.",
            id="transcription_platform.W014",
        )
    ]


@register(Tags.caches, TAG)
def check_cache_connection(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """E016: the caches the platform uses answer a write and a read.

    Runs with the connection checks only (``startup_checks``, ``check --database``), like
    E014, so a plain ``manage.py check`` never opens a network connection.
    """
    from django.conf import settings as django_settings
    from django.core.cache import caches

    if not databases:
        return []
    aliases = {"default", getattr(django_settings, "RATELIMIT_USE_CACHE", "default")}
    errors: list[CheckMessage] = []
    for alias in sorted(aliases & set(django_settings.CACHES)):
        key = "transcription_platform:startup_check"
        try:
            cache = caches[alias]
            cache.set(key, "ok", 10)
            healthy = cache.get(key) == "ok"
            cache.delete(key)
        except Exception as exc:  # missing client library, refused connection, auth…
            healthy = False
            reason = " ".join(str(exc).split()) or type(exc).__name__
        else:
            reason = "a value written was not read back"
        if not healthy:
            errors.append(
                Error(
                    f"Cache {alias!r} cannot be used: {reason}",
                    hint="Rate limits fail open and the health endpoint answers 503 while "
                    "the cache is down; check CACHES and that the cache server runs.",
                    id="transcription_platform.E016",
                )
            )
    return errors
