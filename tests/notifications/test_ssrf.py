"""The SSRF guard decides on stubbed DNS answers; nothing connects anywhere but loopback."""

from __future__ import annotations

import ipaddress

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from tests.fixtures.dns import stub_dns
from transcription_platform.notifications import services, ssrf
from transcription_platform.notifications.models import MessageStatus

FORBIDDEN = [
    "127.0.0.1",  # loopback
    "127.8.9.10",
    "::1",
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "fd12:3456::1",  # unique local
    "169.254.169.254",  # link-local: AWS/GCP/Azure metadata
    "169.254.170.2",  # ECS task metadata
    "fe80::1",  # link-local v6
    "fd00:ec2::254",  # AWS metadata over IPv6
    "100.100.100.200",  # Alibaba metadata (CGNAT range)
    "100.64.0.1",  # CGNAT
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "ff02::1",
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "0.0.0.0",  # unspecified
    "::",
    "192.0.2.10",  # documentation (TEST-NET-1)
    "2001:db8::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:169.254.169.254",  # IPv4-mapped metadata
    "::ffff:10.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64 prefix
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2001:0:4136:e378::1",  # Teredo
]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_every_forbidden_address_class_is_refused(address, monkeypatch, no_outside_connections):
    stub_dns(monkeypatch, {"hooks.example.com": [address]})
    with pytest.raises(ssrf.ForbiddenWebhookURL):
        ssrf.check_url("https://hooks.example.com/x")
    assert no_outside_connections == []


@pytest.mark.parametrize("address", FORBIDDEN)
def test_literal_addresses_are_refused_when_saved(address):
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(ssrf.ForbiddenWebhookURL):
        services.validate_url(f"https://{host}/x")


def test_a_public_answer_passes_and_is_pinned(monkeypatch, no_outside_connections):
    stub_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34"]})
    target = ssrf.check_url("https://hooks.example.com/x?y=1")
    assert target.address == "93.184.216.34"
    assert (target.host, target.port, target.path) == ("hooks.example.com", 443, "/x?y=1")
    assert no_outside_connections == []


def test_one_private_answer_among_public_ones_refuses(monkeypatch):
    stub_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(ssrf.ForbiddenWebhookURL):
        ssrf.check_url("https://hooks.example.com/")


def test_unresolvable_host_is_refused(monkeypatch):
    stub_dns(monkeypatch, {})
    with pytest.raises(ssrf.ForbiddenWebhookURL):
        ssrf.check_url("https://nowhere.example.com/")


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "https:///x",
     "https://example.com:0x50/", "//example.com/", "https://exa mple.com\n/"],
)  # fmt: skip
def test_only_http_urls_with_a_host(url):
    with pytest.raises((ssrf.InvalidWebhookURL, ssrf.ForbiddenWebhookURL)):
        ssrf.parse_url(url)


def test_ports_outside_the_allowed_list_are_refused():
    with pytest.raises(ssrf.ForbiddenWebhookURL):
        ssrf.parse_url("https://example.com:6379/")
    assert ssrf.parse_url("http://example.com/")[2] == 80
    assert ssrf.parse_url("https://example.com:443/")[2] == 443


def test_allowed_networks_exempt_only_their_cidrs(monkeypatch):
    stub_dns(monkeypatch, {"dev.internal": ["10.9.8.7"], "other.internal": ["10.1.1.1"]})
    values = {
        **django_settings.TRANSCRIPTION_PLATFORM,
        "WEBHOOK_ALLOWED_NETWORKS": ["10.9.0.0/16"],
    }
    with override_settings(TRANSCRIPTION_PLATFORM=values):
        assert ssrf.check_url("http://dev.internal/").address == "10.9.8.7"
        with pytest.raises(ssrf.ForbiddenWebhookURL):
            ssrf.check_url("http://other.internal/")


def test_public_addresses_are_allowed():
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "1.1.1.1"):
        assert ssrf.is_allowed_address(ipaddress.ip_address(address))


@pytest.mark.django_db
def test_dns_rebinding_after_validation_is_refused_at_send_time(
    user, monkeypatch, no_outside_connections, django_capture_on_commit_callbacks
):
    """Saved while the name was public; by send time it answers the metadata address."""
    stub_dns(monkeypatch, {"rebind.example.com": ["93.184.216.34"]})
    endpoint = services.create_endpoint(
        user, url="https://rebind.example.com/hook", events=["transcription.completed"]
    )
    stub_dns(monkeypatch, {"rebind.example.com": ["169.254.169.254"]})
    with django_capture_on_commit_callbacks(execute=True):
        message = services.send_test_event(endpoint)
    message.refresh_from_db()
    assert message.status == MessageStatus.FAILED
    assert "not allowed" in message.log.get().error
    assert no_outside_connections == []


@pytest.mark.django_db
def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
    user, receiver, monkeypatch, no_outside_connections, django_capture_on_commit_callbacks
):
    """The name resolves once, to loopback (allowed here); a second lookup would answer
    a public address. The request reaches the receiver: the checked address was used."""
    answers = iter([["127.0.0.1"]])
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: next(answers, ["203.0.113.9"]))
    values = {
        **django_settings.TRANSCRIPTION_PLATFORM,
        "WEBHOOK_ALLOWED_NETWORKS": ["127.0.0.0/8"],
        "WEBHOOK_ALLOWED_PORTS": None,
    }
    with override_settings(TRANSCRIPTION_PLATFORM=values):
        endpoint = services.create_endpoint(
            user, url=f"http://hooks.test:{receiver.port}/h", events=["transcription.completed"]
        )
        with django_capture_on_commit_callbacks(execute=True):
            services.send_test_event(endpoint)
    assert len(receiver.received) == 1
    assert receiver.received[0].headers["host"] == f"hooks.test:{receiver.port}"
    assert no_outside_connections == [("127.0.0.1", receiver.port)]
