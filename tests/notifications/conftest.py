"""Fixtures of the notifications tests: a real webhook receiver on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

PORTS = range(18800, 18900)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers each POST with the next scripted ``(status, headers, body)`` (then 204)
    and keeps what it received."""

    port: int = 0
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def _bind(server_class: type, handler: type) -> ThreadingHTTPServer:
    for port in PORTS:
        try:
            return server_class(("127.0.0.1", port), handler)
        except OSError:
            continue
    raise RuntimeError("no free port in 18800-18899")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            status, headers, reply = state.script.pop(0) if state.script else (204, {}, b"")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            return

    server = _bind(ThreadingHTTPServer, Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loopback_allowed() -> Iterator[None]:
    """Let webhooks reach the test receiver on 127.0.0.1, any port."""
    values = {
        **django_settings.TRANSCRIPTION_PLATFORM,
        "WEBHOOK_ALLOWED_NETWORKS": ["127.0.0.0/8"],
        "WEBHOOK_ALLOWED_PORTS": None,
    }
    with override_settings(TRANSCRIPTION_PLATFORM=values):
        yield


@pytest.fixture
def no_outside_connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Fail any connection to an address other than loopback (and record attempts)."""
    attempts: list[tuple[str, int]] = []
    real = socket.create_connection

    def guarded(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append(address)
        if address[0] not in ("127.0.0.1", "::1"):
            raise AssertionError(f"a test tried to connect to {address}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return attempts
