"""gunicorn settings of the example project: ``gunicorn config.wsgi -c gunicorn.conf.py``.

The Dockerfile, docker-compose.yml and ``nox -s stack`` start the web server with this
file (docs/operations.md, "Web server"). Each value can be overridden per deployment
with an environment variable, or with a command-line flag, which wins over the file.

Why threaded workers (``gthread``) and not gunicorn's default ``sync``: a sync worker
serves one connection from its first byte to its last, so two clients trickling an
upload body occupied both workers of the old ``--workers 2`` and every other request
waited (issue 12, item 10). A gthread worker waits for a connection's first bytes in
its event loop, then lends it one of ``threads`` threads; slow clients hold threads,
not the whole server, and the pool is large enough that a handful cannot exhaust it.
A proxy that buffers request bodies (nginx's default, see docs/operations.md) removes
the rest of the risk: the application then receives every body at LAN speed.

The threads are a fixed pool, so PostgreSQL connections kept for ``CONN_MAX_AGE`` stay
bounded at ``workers x threads`` per container (PostgreSQL allows 100 by default).

Each worker, once the application is loaded, freezes what it loaded out of the
garbage collector's reach (`post_worker_init`): see docs/operations.md, "Web server".
"""

import gc
import os

wsgi_app = "config.wsgi"
worker_class = "gthread"
#: Processes; one or two per CPU core.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
#: Threads per process: the requests one process serves at once (a slow client holds one).
threads = int(os.environ.get("GUNICORN_THREADS", "16"))
#: Seconds a worker may stay silent before the arbiter restarts it. A gthread worker's
#: main loop reports in between requests, so a long upload does not trip it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
#: Seconds an idle kept-alive connection is held (in the event loop, not a thread, so
#: a thousand idle clients cost no thread). Behind a proxy that keeps its upstream
#: connections open (nginx ``keepalive``), make it longer than the proxy's idle time.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
#: Connections one worker accepts (queued for a thread when all are busy).
worker_connections = 1000
accesslog = "-"
#: Freeze the loaded application out of the cyclic garbage collector's reach ("0": don't).
gc_freeze = os.environ.get("GUNICORN_GC_FREEZE", "1") != "0"


def post_worker_init(worker: object) -> None:
    """Import the URLconf, collect once, then ``gc.freeze()`` what is loaded.

    Django, its apps, the API's routers and schemas are about 140,000 objects per
    process that live as long as it does, and every full (generation 2) collection
    walked them all: in the benchmark's server under load, up to 130 ms of CPU each,
    several times a minute, with the whole process (every thread's request) stopped
    meanwhile — the tail of the latency figures (docs/benchmarks.md). Frozen, they are
    never scanned again: a full collection walks the ~25,000 younger objects (about
    30 ms at most in the same run). The URLconf is imported here because Django imports
    it only on the first request, which would leave the API out of the freeze.
    """
    if not gc_freeze:
        return
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - the import is the point
    gc.collect()
    gc.freeze()
