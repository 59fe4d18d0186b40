"""``manage.py api_probe``: one authenticated API request through the running server.

A container health check that only fetches ``/healthz`` stays green while every API
call fails (a missing cache client, a broken auth setting, an unreachable database).
This command sends what a client sends: it signs a short-lived JWT access token for a
dedicated service account and performs ``GET <API>/transcriptions/?page_size=1`` over
HTTP, so the web server, authentication, the rate limiter and the database all answer
it. Rate limits fail open while the cache is down, so the probe also writes and reads
the cache itself (the ``startup_checks`` E016 check, same settings as the server).
Anything but a usable cache and a 2xx exits 1::

    python manage.py api_probe                      # http://127.0.0.1:8000 + the API
    python manage.py api_probe --base-url http://127.0.0.1:8080

The service account (``--username``, ``api-probe`` by default) is created on first use
with an unusable password; the token never leaves this process. The account has its
own per-user rate limit (``RATE_LIMITS["user"]``): probe no more often than that rate
allows (docker-compose.yml probes every 2 minutes: 720 a day under ``1000/d``).
"""

from __future__ import annotations

import http.client
import json
import time
from datetime import timedelta
from typing import Any, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS
from django.http.request import validate_host
from django.urls import NoReverseMatch, reverse

from transcription_platform.checks import check_cache_connection

DEFAULT_USERNAME = "api-probe"
# Short: the token only has to outlive one request.
TOKEN_LIFETIME = timedelta(minutes=1)


def api_root() -> str:
    """The path the library's API is mounted at in this site (``/rest/api/v1/`` ...).

    Raises:
        CommandError: the API is not in the site's URLconf.
    """
    try:
        return reverse("transcription_platform:api-root")
    except NoReverseMatch:
        raise CommandError(
            "The transcription_platform API is not mounted in ROOT_URLCONF; "
            "pass the full --path to probe."
        ) from None


def service_account(username: str) -> Any:
    """The probe's user, created with an unusable password when missing.

    Args:
        username: The value of the user model's ``USERNAME_FIELD``.

    Returns:
        The active user the probe signs its token for.

    Raises:
        CommandError: The account exists but can log in with a password, is staff, or
            is inactive: the probe never signs tokens for a person's or an admin's
            account.
    """
    User = get_user_model()
    lookup: dict[str, Any] = {User.USERNAME_FIELD: username}
    user, created = User._default_manager.get_or_create(**lookup)
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        return user
    if user.has_usable_password() or user.is_staff or user.is_superuser:
        raise CommandError(
            f"The account {username!r} has a password or staff rights: the probe only "
            "signs tokens for its own service account. Choose another --username."
        )
    if not user.is_active:
        raise CommandError(f"The probe's service account {username!r} is deactivated.")
    return user


def access_token(user: Any) -> str:
    """A JWT access token for ``user``, valid for `TOKEN_LIFETIME`."""
    # AccessToken, not RefreshToken.for_user(): that one writes an OutstandingToken row
    # per call when the blacklist app is installed.
    from ninja_jwt.tokens import AccessToken

    # ninja_jwt annotates for_user's cls as the instance type (cls: T -> T), so mypy
    # refuses the class as its self; the call is right, the annotation is not.
    token = cast("AccessToken", AccessToken.for_user(user))  # type: ignore[misc]
    token.set_exp(lifetime=TOKEN_LIFETIME)
    return str(token)


def host_header(netloc: str) -> str:
    """The address itself when ALLOWED_HOSTS accepts it, else the first allowed name.

    A site that allows only its public domain would answer a request for
    ``127.0.0.1`` with 400; the probe talks to the same server under an allowed name.
    """
    host = netloc.rsplit(":", 1)[0] if not netloc.endswith("]") else netloc
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG or validate_host(host, allowed):
        return netloc
    for name in allowed:
        if name != "*" and not name.startswith("."):
            return name
    return netloc


def probe_headers(token: str, netloc: str) -> dict[str, str]:
    """Headers of the probe request: the token, a Host the site accepts, and the proxy's
    scheme header when the site trusts one (the probe stands where the TLS proxy does;
    without it ``SECURE_SSL_REDIRECT`` would answer 301)."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "Host": host_header(netloc),
        "User-Agent": "transcription-platform-api-probe",
    }
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        meta_name, value = proxy_header
        headers[meta_name.removeprefix("HTTP_").replace("_", "-").title()] = value
    return headers


def describe_error(status: int, body: bytes) -> str:
    """``HTTP 429 rate_limited: ...`` from the API's error shape, else the body's start."""
    try:
        error = json.loads(body)["error"]
        return f"HTTP {status} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {status}: {body[:200]!r}"


class Command(BaseCommand):
    help = (
        "Send one authenticated GET to the running API over HTTP (as a service account) "
        "and exit 1 unless it answers 2xx: a health check that covers auth, cache and DB."
    )
    # A probe runs every few seconds: it answers for the server, not for the checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--base-url",
            default="http://127.0.0.1:8000",
            help="Scheme, host and port of the server to probe (default: %(default)s).",
        )
        parser.add_argument(
            "--path",
            help="Path to GET (default: the API's transcriptions/?page_size=1).",
        )
        parser.add_argument(
            "--username",
            default=DEFAULT_USERNAME,
            help="Service account the probe authenticates as (default: %(default)s).",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=5.0,
            help="Seconds to wait for the answer (default: %(default)s).",
        )

    def handle(
        self, *args: Any, base_url: str, path: str | None, username: str, timeout: float, **_: Any
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            raise CommandError(f"--base-url must be http(s)://host[:port], not {base_url!r}")
        path = path or f"{api_root()}transcriptions/?page_size=1"
        # Rate limits fail open while the cache is down, so a 2xx alone would not show
        # it: write and read it with the server's settings, as startup_checks does.
        cache_problems = check_cache_connection(databases=[DEFAULT_DB_ALIAS])
        if cache_problems:
            raise CommandError("; ".join(problem.msg for problem in cache_problems))
        try:
            token = access_token(service_account(username))
        except CommandError:
            raise
        except Exception as exc:
            # The database or the cache failing here is the answer the probe is for:
            # one line saying so, not a traceback in the orchestrator's health log.
            raise CommandError(
                f"Cannot prepare the probe's service account: {type(exc).__name__}: {exc}"
            ) from exc
        headers = probe_headers(token, url.netloc)
        connection_class = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_class(url.netloc, timeout=timeout)
        started = time.monotonic()
        try:
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            body = response.read()
        except OSError as exc:
            raise CommandError(f"GET {base_url}{path}: no answer ({exc})") from exc
        finally:
            connection.close()
        elapsed_ms = (time.monotonic() - started) * 1000
        # Redirects are failures too: a probe that follows one would test another server.
        if not 200 <= response.status < 300:
            raise CommandError(f"GET {base_url}{path}: {describe_error(response.status, body)}")
        self.stdout.write(
            f"API probe passed: GET {base_url}{path} as {username!r} -> "
            f"{response.status} in {elapsed_ms:.0f} ms"
        )
