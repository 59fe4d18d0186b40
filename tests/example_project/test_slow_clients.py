"""Clients that trickle their request body do not starve the shipped gunicorn.

Each slow client sends its headers and the start of a JSON body promising a megabyte,
then one byte every half second: the application is reading that body, so the
connection holds whatever serves it for as long as the client likes. With the shipped
config (gunicorn.conf.py: gthread) that is one thread; with gunicorn's default sync
workers it was a whole process, and two such clients could take the old
``--workers 2`` down, which the control case below shows.

Bounded: a dozen sockets, a few seconds each, one byte per socket per half second.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.fixtures.api import API
from tests.fixtures.gunicorn import gunicorn_server

pytestmark = pytest.mark.integration

#: Fewer than one process's threads (gunicorn.conf.py: 16): a worker that accepted every
#: slow client still has threads for the next request.
SLOW_CLIENTS = 12
#: A normal request must be answered this quickly while the slow clients trickle.
QUICK = 3.0


@contextmanager
def trickling_clients(url: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections that send a login body one byte every 0.5 s.

    Args:
        url: The server's base URL.
        count: How many slow clients.

    Yields:
        Their sockets, while a thread keeps them trickling.
    """
    parts = urlsplit(url)
    head = (
        f"POST {API}/auth/login/ HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"
        '{"email": "'
    ).encode()
    stop = threading.Event()
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection((parts.hostname, parts.port)))
            sock.sendall(head)
            sockets.append(sock)

        def trickle() -> None:
            while not stop.wait(0.5):
                for sock in sockets:
                    with contextlib.suppress(OSError):  # the server gave up on it: fine
                        sock.sendall(b"a")

        feeder = threading.Thread(target=trickle, daemon=True)
        feeder.start()
        try:
            time.sleep(1.5)  # every slow client has reached the application
            yield sockets
        finally:
            stop.set()
            feeder.join(timeout=5)


def answer_time(url: str) -> float:
    started = time.monotonic()
    response = httpx.get(f"{url}{API}/transcriptions/", timeout=QUICK)
    assert response.status_code == 401, response.text  # reached the API, answered
    return time.monotonic() - started


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slow-clients")


def env(tmp: Path) -> dict[str, str]:
    # Nothing here touches the database: the slow clients never finish their body
    # and the normal request is refused at authentication.
    return {
        "DJANGO_SECRET_KEY": "slow-clients-test-key-" + "x" * 40,
        "DATABASE_URL": f"sqlite:///{tmp / 'unused.sqlite3'}",
    }


def test_the_shipped_config_answers_while_slow_clients_trickle(tmp: Path) -> None:
    with gunicorn_server(tmp, env(tmp)) as url, trickling_clients(url, SLOW_CLIENTS):
        # Several requests: gunicorn spreads connections over both processes.
        times = [answer_time(url) for _ in range(6)]
    assert max(times) < QUICK, times


def test_control_sync_workers_are_starved_by_slow_clients(tmp: Path) -> None:
    """The previous deployment (2 sync workers): the same test fails, so it can.

    Two slow clients are enough when each lands on its own process; the kernel may
    queue both behind one process, so send as many as above.
    """
    sync = ("--worker-class", "sync", "--workers", "2", "--threads", "1")
    server = gunicorn_server(tmp, env(tmp), extra_args=sync)
    with (
        server as url,
        trickling_clients(url, SLOW_CLIENTS),
        pytest.raises(httpx.TimeoutException),
    ):
        answer_time(url)
