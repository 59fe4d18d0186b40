"""Rate limits come before the body, and wrong credentials are throttled (issue 12, item 11).

The limits are ninja throttles: checked right after authentication, before any
parameter is read. A real HTTP client that sends the headers of a 60 MB upload and
only its first 64 KiB gets the 429 while the rest is still unsent.
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import pytest
from django.test import Client

from tests.fixtures.api import API, assert_error, bearer_client
from tests.fixtures.users import make_user
from transcription_platform.audit.models import AuditAction, AuditLog

UPLOAD = f"{API}/transcriptions/"
BODY_BYTES = 60 * 1024 * 1024
SENT_BYTES = 64 * 1024


def _limits(settings, **rates) -> None:
    settings.TRANSCRIPTION_PLATFORM = {**settings.TRANSCRIPTION_PLATFORM, "RATE_LIMITS": rates}


@pytest.mark.django_db
def test_an_over_limit_upload_is_refused_before_its_form_is_parsed(settings):
    _limits(settings, transcription_create="1/h")
    client = bearer_client(make_user("uploader"))
    first = client.post(UPLOAD, {"title": "no file"})  # counted, then refused: no file
    assert_error(first, 422, "validation_error")
    second = client.post(UPLOAD, {"title": "no file"})
    error = assert_error(second, 429, "rate_limited")
    assert "transcription_create" in error["message"]
    assert int(second["Retry-After"]) == error["details"]["retry_after"] > 0


@pytest.mark.django_db
def test_the_user_limit_is_checked_before_the_query_is_validated(settings):
    _limits(settings, user="1/h")
    client = bearer_client(make_user("lister"))
    assert client.get(f"{API}/transcriptions/").status_code == 200
    response = client.get(f"{API}/transcriptions/", {"ordering": "not-a-field"})
    assert_error(response, 429, "rate_limited")


@pytest.mark.django_db(transaction=True)
def test_a_streaming_client_gets_the_429_before_sending_its_60_mb(live_server, settings):
    _limits(settings, transcription_create="1/h")
    user = make_user("streamer")
    client = bearer_client(user)
    assert client.post(UPLOAD, {"title": "x"}).status_code == 422  # uses the one allowed
    token = client.defaults["HTTP_AUTHORIZATION"]
    boundary = "tpboundary"
    preamble = (
        f"--{boundary}\r\nContent-Disposition: form-data; name="
        f'"audio_file"; filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()
    url = urlparse(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=15) as sock:
        sock.sendall(
            (
                f"POST {UPLOAD} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: {token}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {BODY_BYTES}\r\n\r\n"
            ).encode()
            + preamble
            + b"\0" * (SENT_BYTES - len(preamble))
        )
        # 64 KiB of 60 MiB sent; the server answers without waiting for the rest.
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.split()[1] == b"429", answer[:500]
    assert b"Retry-After:" in answer


@pytest.mark.django_db
def test_wrong_api_keys_are_throttled_per_ip_and_audited_a_bounded_number_of_times(settings):
    _limits(settings, auth_failure="30/10m")
    owner = make_user("keyholder")
    created = bearer_client(owner).post(
        f"{API}/auth/api-keys/", {"name": "ci"}, content_type="application/json"
    )
    key = created.json()["key"]
    wrong = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    statuses = []
    for _ in range(150):
        statuses.append(Client(HTTP_X_API_KEY=wrong).get(f"{API}/transcriptions/").status_code)
    assert statuses[:30] == [401] * 30
    assert set(statuses[30:]) == {429}
    failures = AuditLog.objects.filter(action=AuditAction.LOGIN_FAILED).count()
    assert failures == 30  # one per wrong key looked up, then no more
    # Another address is not locked out by this one's guesses.
    other = Client(HTTP_X_API_KEY=key, REMOTE_ADDR="127.0.0.2")
    assert other.get(f"{API}/transcriptions/").status_code == 200


@pytest.mark.django_db
def test_the_right_key_from_a_throttled_ip_waits_too(settings):
    _limits(settings, auth_failure="2/10m")
    owner = make_user("keyholder2")
    key = (
        bearer_client(owner)
        .post(f"{API}/auth/api-keys/", {"name": "ci"}, content_type="application/json")
        .json()["key"]
    )
    for _ in range(3):
        Client(HTTP_X_API_KEY="tp_0123456789abcdef_wrong").get(f"{API}/transcriptions/")
    response = Client(HTTP_X_API_KEY=key).get(f"{API}/transcriptions/")
    assert_error(response, 429, "rate_limited")
