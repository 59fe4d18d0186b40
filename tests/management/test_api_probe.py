"""``manage.py api_probe`` against a real HTTP server (pytest-django's live_server)."""

from __future__ import annotations

import socket
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import override_settings

from transcription_platform.conf import settings as platform_settings
from transcription_platform.management.commands.api_probe import host_header, probe_headers

pytestmark = pytest.mark.django_db(transaction=True)


def probe(base_url: str, **options: object) -> str:
    out = StringIO()
    call_command("api_probe", base_url=base_url, stdout=out, **options)
    return out.getvalue()


def test_probe_creates_its_service_account_and_passes(live_server) -> None:
    out = probe(live_server.url)

    assert "API probe passed" in out
    assert "/rest/api/v1/transcriptions/?page_size=1" in out
    assert "-> 200" in out
    account = get_user_model().objects.get(username="api-probe")
    assert not account.has_usable_password()
    assert not account.is_staff
    # A second run reuses the account.
    probe(live_server.url)
    assert get_user_model().objects.filter(username="api-probe").count() == 1


def test_probe_fails_when_the_rate_limiter_refuses(live_server) -> None:
    limits = {**platform_settings.RATE_LIMITS, "user": "1/d"}
    with override_settings(TRANSCRIPTION_PLATFORM={"RATE_LIMITS": limits}):
        probe(live_server.url)
        with pytest.raises(CommandError, match=r"HTTP 429 rate_limited"):
            probe(live_server.url)


def test_probe_fails_on_an_authentication_failure(live_server) -> None:
    probe(live_server.url)
    get_user_model().objects.filter(username="api-probe").update(is_active=False)
    with pytest.raises(CommandError, match="deactivated"):
        probe(live_server.url)


def test_probe_fails_on_a_path_that_answers_an_error(live_server) -> None:
    with pytest.raises(CommandError, match=r"HTTP 404 not_found"):
        probe(live_server.url, path="/rest/api/v1/no-such-endpoint/")


def test_probe_never_signs_tokens_for_a_person(live_server, user) -> None:
    with pytest.raises(CommandError, match="has a password or staff rights"):
        probe(live_server.url, username=user.username)


def test_probe_fails_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Bound and closed without listen(): nothing answers on that port.
    with pytest.raises(CommandError, match="no answer"):
        probe(f"http://127.0.0.1:{port}", timeout=2)


def test_probe_rejects_a_malformed_base_url() -> None:
    with pytest.raises(CommandError, match="--base-url"):
        probe("127.0.0.1:8000")


def test_a_redirect_is_a_failure(live_server) -> None:
    # /admin answers 301 to /admin/: a probe that followed it would test another page.
    with pytest.raises(CommandError, match="HTTP 301"):
        probe(live_server.url, path="/admin")


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_probe_sends_the_trusted_proxy_scheme_header() -> None:
    # Django's SecurityMiddleware reads SECURE_SSL_REDIRECT once, so this is checked on
    # the headers; the stack check (example_project/stack.py) runs it against gunicorn.
    headers = probe_headers("token", "127.0.0.1:8000")
    assert headers["X-Forwarded-Proto"] == "https"
    assert headers["Authorization"] == "Bearer token"


@override_settings(SECURE_PROXY_SSL_HEADER=None)
def test_probe_sends_no_scheme_header_the_site_does_not_trust() -> None:
    assert "X-Forwarded-Proto" not in probe_headers("token", "127.0.0.1:8000")


@override_settings(DEBUG=False, ALLOWED_HOSTS=["api.example.com", ".example.org"])
def test_host_header_uses_an_allowed_name_when_the_address_is_not() -> None:
    assert host_header("127.0.0.1:8000") == "api.example.com"


@override_settings(DEBUG=False, ALLOWED_HOSTS=["localhost", "127.0.0.1"])
def test_host_header_keeps_an_allowed_address() -> None:
    assert host_header("127.0.0.1:8000") == "127.0.0.1:8000"


def test_an_unusable_cache_is_a_failure_in_one_line(live_server) -> None:
    # Rate limits and the role cache fail open on a cache outage, so the request alone
    # would pass: the probe checks the cache itself. A Redis nobody serves:
    unreachable = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:18298/12",
        }
    }
    with (
        override_settings(CACHES=unreachable),
        pytest.raises(CommandError, match=r"Cache 'default' cannot be used: .*18298"),
    ):
        probe(live_server.url)
