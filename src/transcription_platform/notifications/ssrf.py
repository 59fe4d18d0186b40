"""Server-side request forgery guard for outgoing webhooks.

A webhook URL is chosen by a user, so the server must not be tricked into calling its
own network: the host is resolved *when sending*, every address it resolves to must be
public (loopback, private, link-local — cloud metadata lives there —, CGNAT,
multicast, reserved and unspecified addresses are refused, IPv4 and IPv6 alike,
IPv4-mapped IPv6 unwrapped first), and the connection is then opened to the very
address that was checked. Resolving again in the HTTP client would let a DNS server
answer a public address to the check and ``127.0.0.1`` to the connect (DNS rebinding).

``WEBHOOK_ALLOWED_NETWORKS`` exempts CIDRs (development, tests); only the schemes
``http``/``https`` and the ports in ``WEBHOOK_ALLOWED_PORTS`` are accepted.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from transcription_platform.conf import settings
from transcription_platform.exceptions import ValidationError
from transcription_platform.notifications.error_codes import NotificationsErrorCode

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048

# Cloud metadata services outside the ranges refused anyway (they are link-local or
# private elsewhere): listed so the refusal does not hinge on the stdlib's tables.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)


class ForbiddenWebhookURL(ValidationError):
    """The URL is not allowed: wrong scheme or port, or the host resolves to an
    address the server must not call."""

    code = NotificationsErrorCode.WEBHOOK_URL_FORBIDDEN.value
    default_message = "The webhook URL points to an address that is not allowed."


class InvalidWebhookURL(ValidationError):
    code = NotificationsErrorCode.INVALID_WEBHOOK_URL.value
    default_message = "The webhook URL is not a valid http(s) URL."


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: where to connect (``address``) and what to ask for."""

    scheme: str
    host: str
    port: int
    address: str
    path: str


def _networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in settings.WEBHOOK_ALLOWED_NETWORKS]


NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, NAT64), if any: the packet
    ends up there, so that is the address to judge."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if any(address in prefix for prefix in NAT64_PREFIXES):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_forbidden_address(address: IPAddress) -> bool:
    """Whether the server must refuse to connect to ``address`` (exemptions aside)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and is_forbidden_address(embedded):
            return True
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
    return (
        address in METADATA_ADDRESSES
        or address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def is_allowed_address(address: IPAddress) -> bool:
    """Public, or inside one of ``WEBHOOK_ALLOWED_NETWORKS``."""
    unwrapped = address
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        unwrapped = address.ipv4_mapped
    if any(unwrapped in network or address in network for network in _networks()):
        return True
    return not is_forbidden_address(address)


def parse_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path)`` of a syntactically valid, allowed-port URL.

    Raises:
        InvalidWebhookURL: not an absolute http(s) URL with a host.
        ForbiddenWebhookURL: a port outside ``WEBHOOK_ALLOWED_PORTS``.
    """
    if not isinstance(url, str) or len(url) > MAX_URL_LENGTH or any(c in url for c in "\x00\r\n"):
        raise InvalidWebhookURL(details={"field": "url"})
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidWebhookURL(details={"field": "url"}) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InvalidWebhookURL("Only http and https URLs with a host are accepted.")
    if parts.username or parts.password:
        raise InvalidWebhookURL("Credentials in the webhook URL are not accepted.")
    port = port or (443 if scheme == "https" else 80)
    allowed = settings.WEBHOOK_ALLOWED_PORTS
    if allowed is not None and port not in allowed:
        raise ForbiddenWebhookURL(
            f"Port {port} is not allowed for webhooks.", details={"allowed_ports": allowed}
        )
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, parts.hostname, port, path


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (tests replace this with stubbed answers)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def check_url(url: str) -> Target:
    """Resolve ``url``'s host now and return the address to connect to.

    Every resolved address must be allowed — one private answer among public ones
    refuses the URL, since a client could be handed either.

    Raises:
        InvalidWebhookURL: the URL is malformed.
        ForbiddenWebhookURL: scheme, port or a resolved address is not allowed, or the
            host does not resolve.
    """
    scheme, host, port, path = parse_url(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        answers = [str(literal)]
    else:
        try:
            answers = resolve(host, port)
        except (OSError, UnicodeError):
            raise ForbiddenWebhookURL(
                "The webhook host does not resolve.", details={"host": host}
            ) from None
    if not answers:
        raise ForbiddenWebhookURL("The webhook host does not resolve.", details={"host": host})
    for answer in answers:
        address = ipaddress.ip_address(answer.split("%", 1)[0])
        if not is_allowed_address(address):
            raise ForbiddenWebhookURL(details={"host": host, "address": str(address)})
    return Target(scheme=scheme, host=host, port=port, address=answers[0], path=path)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address, whatever DNS says by now."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, with SNI and certificate checked for the host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        self._tls = ssl.create_default_context()
        super().__init__(target.host, target.port, timeout=timeout, context=self._tls)
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def post(target: Target, body: bytes, headers: dict[str, str], *, timeout: float) -> Response:
    """POST ``body`` to ``target`` without following redirects; reads at most 64 KiB.

    Raises:
        OSError: connection, TLS or timeout failure.
        http.client.HTTPException: a malformed response.
    """
    connection_class: Any = (
        _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    )
    connection = connection_class(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read(64 * 1024)
        return Response(
            status=response.status,
            headers={k.lower(): v for k, v in response.getheaders()},
            body=data,
        )
    finally:
        connection.close()
