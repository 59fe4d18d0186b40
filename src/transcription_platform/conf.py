"""Library settings: one ``TRANSCRIPTION_PLATFORM`` dict, read lazily and validated.

Every key, its type and its default live in `SETTINGS`; ``docs/settings.md``
documents each of them (a test fails when one is missing). Values are re-read when
Django's ``setting_changed`` fires, so ``override_settings`` works in tests::

    from transcription_platform.conf import settings
    settings.MAX_UPLOAD_BYTES
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

SETTINGS_NAME = "TRANSCRIPTION_PLATFORM"

MiB = 1024 * 1024


@dataclass(frozen=True)
class Setting:
    """One documented setting: its default, the accepted type(s) and whether dict
    values are merged key by key over the default (``merge=True``) or replace it."""

    default: Any
    types: type | tuple[type, ...]
    doc: str
    merge: bool = False
    nullable: bool = False


SETTINGS: dict[str, Setting] = {
    "ENGINES": Setting(
        {
            "default": {
                "BACKEND": "transcription_platform.engines.openai.OpenAIEngine",
                "OPTIONS": {"model": "whisper-1"},
            }
        },
        dict,
        "Speech engines by name, shaped like Django's CACHES: BACKEND + OPTIONS.",
    ),
    "DEFAULT_ENGINE": Setting("default", str, "Engine name used when a request names none."),
    "ANALYZERS": Setting(
        {
            "default": {
                "BACKEND": (
                    "transcription_platform.analysis.analyzers.extractive.ExtractiveAnalyzer"
                ),
                "OPTIONS": {},
            }
        },
        dict,
        "Transcript analyzers by name (BACKEND + OPTIONS).",
    ),
    "DEFAULT_ANALYZER": Setting("default", str, "Analyzer name used when none is named."),
    "ANALYSIS_ENABLED": Setting(
        False, bool, "Site default for running analysis after transcription."
    ),
    "AUDIO_STORAGE": Setting("default", str, "Alias in settings.STORAGES for uploaded audio."),
    "AUDIO_UPLOAD_TO": Setting(
        "transcriptions/%Y/%m/%d", str, "strftime path prefix for stored audio files."
    ),
    "MAX_UPLOAD_BYTES": Setting(500 * MiB, int, "Largest accepted upload in bytes (413 above)."),
    "MAX_DURATION_SECONDS": Setting(
        4 * 3600, (int, float), "Longest accepted audio in seconds (400 above)."
    ),
    "MIN_BYTES_PER_AUDIO_SECOND": Setting(
        100,
        (int, float),
        "Bounds the work per byte uploaded: a file may hold at most its size divided by "
        "this many seconds of audio (decoded, not as its header claims); None: no bound.",
        nullable=True,
    ),
    "CHUNK_SECONDS": Setting(
        None,
        (int, float),
        "Longest chunk sent to an engine; None uses each engine's own default.",
        nullable=True,
    ),
    "RATE_LIMITS": Setting(
        {
            "anon": "100/d",
            "user": "1000/d",
            "login": "60/m",
            "login_account": "10/10m",
            "registration": "20/h",
            "refresh": "600/h",
            "logout": "60/h",
            "transcription_create": "10/h",
            "auth_failure": "30/10m",
        },
        dict,
        "django-ratelimit rates per scope; a value of None disables that limit. "
        "``login`` counts per IP, ``login_account`` per submitted login name, "
        "``auth_failure`` wrong API keys and engine callback tokens per IP.",
        merge=True,
    ),
    "REGISTRATION_OPEN": Setting(
        False,
        bool,
        "Whether anyone may create an account through ``POST /auth/registration/``. Off "
        "by default: a library dropped into a site must not open sign-ups on its own.",
    ),
    "PAGE_SIZE": Setting(20, int, "Default page size of list endpoints."),
    "MAX_PAGE_SIZE": Setting(100, int, "Largest page size a client may ask for."),
    "IDEMPOTENCY_TTL_SECONDS": Setting(
        24 * 3600, int, "How long an Idempotency-Key keeps returning the original resource."
    ),
    "TASK_CLUSTER": Setting(
        None, str, "Name of the django-q2 cluster that runs heavy work.", nullable=True
    ),
    "TASK_MAX_ATTEMPTS": Setting(
        5,
        int,
        "Attempts on retryable provider errors: per chunk before the job fails, per "
        "analysis before it fails.",
    ),
    "TASK_RETRY_BACKOFF_SECONDS": Setting(
        5.0, (int, float), "First retry delay; doubles each attempt (Retry-After wins)."
    ),
    "TASK_MAX_BACKOFF_SECONDS": Setting(300.0, (int, float), "Upper bound of one retry delay."),
    "CLAIM_LEASE_SECONDS": Setting(
        60,
        (int, float),
        "How long a worker's claim on a chunk (or on planning a job) holds without being "
        "renewed; the worker renews it every few seconds while it works, so after this "
        "long the worker is dead and the recovery sweep hands the work to another.",
    ),
    "STUCK_AFTER_SECONDS": Setting(
        3600, int, "A job in processing without progress for this long is recovered."
    ),
    "HEALTH_CHECKS": Setting(
        [
            "transcription_platform.health.checks.database",
            "transcription_platform.health.checks.cache",
            "transcription_platform.health.checks.storage",
            "transcription_platform.health.checks.worker",
        ],
        list,
        "Dotted paths of health checks: callables returning bool (or raising).",
    ),
    "HEALTH_CHECK_TIMEOUT": Setting(
        3.0, (int, float), "Seconds a single health check may take before it counts as failed."
    ),
    "WORKER_HEARTBEAT_MAX_AGE": Setting(
        150, int, "Seconds after the last worker heartbeat before the worker check fails."
    ),
    "ENCRYPTION_KEYS": Setting(
        [],
        list,
        "Fernet keys for secrets at rest; the first encrypts, all decrypt. Empty: derived "
        "from SECRET_KEY (warned about in production).",
    ),
    "ROLE_CACHE_SECONDS": Setting(
        30, int, "How long a user's roles stay cached (Django's own changes clear it; 0: off)."
    ),
    "PRINCIPAL_CACHE_SECONDS": Setting(
        5,
        int,
        "How long a web process reuses the user a JWT names, with their roles, before "
        "reading them again (0: every request).",
    ),
    "AUDIT_DEFERRED_FLUSH_SECONDS": Setting(
        1.0,
        (int, float),
        "Longest wait of a deferred audit entry (reads such as 'viewed') before the web "
        "process's batch writer inserts it.",
    ),
    "AUTHENTICATION": Setting(
        ["transcription_platform.auth.PlatformAuth"],
        list,
        "Dotted paths of the API's auth classes, tried in order (default: JWT + API keys; "
        "add transcription_platform.auth.SessionAuth for the host site's session).",
    ),
    "OIDC_ISSUERS": Setting(
        [],
        list,
        "OpenID Connect issuers whose bearer access tokens are accepted (needs the oidc app "
        "and its auth class in AUTHENTICATION): dicts with issuer, audience, role_claims, "
        "role_map and optional tuning keys; see docs/sso.md.",
    ),
    "API_KEY_PREFIX": Setting("tp_", str, "Prefix that marks a platform API key."),
    "AUDIT_RETENTION_DAYS": Setting(
        365, int, "Audit entries older than this are removed by purge_audit_log.", nullable=True
    ),
    "OPENAI_COMPAT_MODELS": Setting(
        {"whisper-1": None},
        dict,
        "OpenAI-compatible endpoint: model name → engine alias for /audio/transcriptions "
        "(None: DEFAULT_ENGINE).",
    ),
    "OPENAI_COMPAT_TRANSLATION_MODELS": Setting(
        {},
        dict,
        "OpenAI-compatible endpoint: model name → alias of an engine whose task is "
        "'translate', for /audio/translations (empty: translations answer 400).",
    ),
    "OPENAI_COMPAT_WAIT_SECONDS": Setting(
        300,
        (int, float),
        "How long an OpenAI-compatible request waits for its transcription before a 408 "
        "that carries the transcription id.",
    ),
    "PRICES": Setting(
        {
            # OpenAI's published list prices in USD (openai.com/api/pricing), checked
            # 2025-06-01; each dated from the model's API release. docs/billing.md shows
            # the same table (tests/billing/test_default_prices.py keeps them equal).
            "whisper-1": [{"effective_from": "2023-03-01", "per_audio_minute": "0.006"}],
            "gpt-4o-transcribe": [
                {
                    "effective_from": "2025-03-20",
                    "per_audio_minute": "0.006",
                    "per_1k_input_tokens": "0.006",
                    "per_1k_output_tokens": "0.01",
                }
            ],
            "gpt-4o-mini-transcribe": [
                {
                    "effective_from": "2025-03-20",
                    "per_audio_minute": "0.003",
                    "per_1k_input_tokens": "0.003",
                    "per_1k_output_tokens": "0.005",
                }
            ],
            "gpt-4o-mini": [
                {
                    "effective_from": "2024-07-18",
                    "per_1k_input_tokens": "0.00015",
                    "per_1k_output_tokens": "0.0006",
                }
            ],
        },
        dict,
        "Billing: provider model → list of dated prices (``effective_from``, "
        "``per_audio_minute``, ``per_1k_input_tokens``, ``per_1k_output_tokens``, as "
        "decimal strings). A model not listed costs 0 (local engines). Replaces the default.",
    ),
    "BILLING_CURRENCY": Setting("USD", str, "Billing: ISO 4217 currency of PRICES and budgets."),
    "BILLING_DEFAULT_LIMITS": Setting(
        {"monthly_audio_seconds": None, "monthly_cost": None, "concurrent_jobs": None},
        dict,
        "Billing: every user's limits unless their budget says otherwise (None: unlimited).",
        merge=True,
    ),
    "WEBHOOK_RETRY_SCHEDULE": Setting(
        [5, 300, 1800, 7200, 18000, 36000, 36000],
        list,
        "Seconds before each retry of a webhook message after the first, immediate "
        "attempt (the Standard Webhooks example schedule); its length is the retry count.",
    ),
    "WEBHOOK_TIMEOUT_SECONDS": Setting(
        15.0, (int, float), "Seconds a webhook attempt may take (connect + response)."
    ),
    "WEBHOOK_DISABLE_AFTER_FAILURES": Setting(
        5,
        int,
        "Consecutive failed webhook messages after which the endpoint is disabled (0: never).",
    ),
    "WEBHOOK_ALLOWED_NETWORKS": Setting(
        [],
        list,
        "CIDRs webhooks may reach although not public (loopback, private…): for "
        "development and tests only.",
    ),
    "WEBHOOK_ALLOWED_PORTS": Setting(
        [80, 443],
        list,
        "Ports webhook URLs may use; None allows any port.",
        nullable=True,
    ),
    "ANALYTICS_CACHE_SECONDS": Setting(
        60, int, "Analytics: seconds a computed metrics answer is cached (0: not cached)."
    ),
    "ANALYTICS_PRICE_PER_MINUTE": Setting(
        "0",
        str,
        "Analytics: what the site charges per audio minute of a completed transcription "
        "(decimal string, BILLING_CURRENCY); the revenue figures.",
    ),
    "ANALYTICS_PLAN_PRICES": Setting(
        {},
        dict,
        "Analytics: Django group name (a plan) → price per audio minute (decimal string) "
        "charged to its members instead of ANALYTICS_PRICE_PER_MINUTE (the lowest wins).",
    ),
    "ANALYTICS_MAX_PERIOD_DAYS": Setting(
        1096, int, "Analytics: longest period (days) a metrics request may ask for."
    ),
    "ANALYTICS_MAX_REFERRAL_CODES": Setting(
        20, int, "Analytics: referral codes one user may hold."
    ),
    "ANALYTICS_TOTAL_SHARDS": Setting(
        8,
        int,
        "Analytics: rows each day's totals are spread over (by user), so that jobs of "
        "different users do not wait for one row's lock.",
    ),
    "EVENTS_KEEPALIVE_SECONDS": Setting(
        15.0,
        (int, float),
        "Real-time event streams: seconds between keep-alive comments while nothing happens.",
    ),
    "EVENTS_POLL_SECONDS": Setting(
        1.0,
        (int, float),
        "Real-time event streams without PostgreSQL LISTEN (SQLite…), or under WSGI: seconds "
        "between two reads of the event log (one query per server process, for all streams).",
    ),
    "EVENTS_FANOUT": Setting(
        "auto",
        str,
        "How a server process hears new real-time events: 'postgres' (LISTEN/NOTIFY), "
        "'poll' (reads the event log), 'auto' (postgres on PostgreSQL, else poll).",
    ),
    "EVENTS_LOG_SIZE": Setting(
        1000,
        int,
        "Real-time events kept per user, so a reconnecting stream (Last-Event-ID) resumes.",
    ),
    "EVENTS_TOKEN_TTL_SECONDS": Setting(
        300,
        int,
        "Seconds a stream token from POST /events/token may open event streams.",
    ),
    "RETENTION_DAYS": Setting(
        None,
        int,
        "Finished transcriptions (and audio) older than this: removed by purge_transcriptions.",
        nullable=True,
    ),
    "WEB_LOGIN_URL": Setting(
        None,
        str,
        "Web app: where signed-out visitors go; None uses the app's own sign-in page.",
        nullable=True,
    ),
    "WEB_CONTENT_SECURITY_POLICY": Setting(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'",
        str,
        "Web app: the Content-Security-Policy header of its pages (None: leave it to the site).",
        nullable=True,
    ),
}


def _check(name: str, value: Any) -> None:
    spec = SETTINGS[name]
    if value is None and spec.nullable:
        return
    # bool is an int subclass: don't let True pass as a byte count.
    wrong_bool = isinstance(value, bool) and bool not in _as_tuple(spec.types)
    if wrong_bool or not isinstance(value, spec.types):
        expected = " or ".join(t.__name__ for t in _as_tuple(spec.types))
        raise ImproperlyConfigured(
            f"{SETTINGS_NAME}[{name!r}] must be {expected}, got {type(value).__name__}."
        )


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


class PlatformSettings:
    """Attribute access to the validated ``TRANSCRIPTION_PLATFORM`` dict."""

    def __init__(self) -> None:
        self._values: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        user = getattr(django_settings, SETTINGS_NAME, None) or {}
        if not isinstance(user, dict):
            raise ImproperlyConfigured(f"{SETTINGS_NAME} must be a dict.")
        unknown = sorted(set(user) - set(SETTINGS))
        if unknown:
            raise ImproperlyConfigured(
                f"Unknown {SETTINGS_NAME} key(s): {', '.join(unknown)}. "
                f"Known keys: {', '.join(sorted(SETTINGS))}."
            )
        values: dict[str, Any] = {}
        for name, spec in SETTINGS.items():
            if name not in user:
                values[name] = spec.default
                continue
            value = user[name]
            _check(name, value)
            if spec.merge and isinstance(value, dict):
                value = {**spec.default, **value}
            values[name] = value
        return values

    @property
    def values(self) -> dict[str, Any]:
        if self._values is None:
            self._values = self._load()
        return self._values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in SETTINGS:
            raise AttributeError(name)
        return self.values[name]

    def reload(self) -> None:
        self._values = None


settings = PlatformSettings()


@receiver(setting_changed)
def _reload_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTINGS_NAME:
        settings.reload()
