"""The shipped gunicorn config freezes each worker's loaded application out of the
garbage collector's reach, the URLconf included (docs/operations.md, "Web server").

Each case runs the config's ``post_worker_init`` in a fresh Python process, as a
worker would after loading the application: what is imported and frozen there is not
hidden by what this test process imported before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.gunicorn import GUNICORN_CONFIG

ROOT = Path(__file__).resolve().parents[2]

#: A worker's start, in a fresh process: Django set up (what gunicorn's load_wsgi
#: does), then the config's hook; reports the URLconf and the objects frozen since the
#: interpreter started (Python 3.12 starts with a few hundred in the permanent
#: generation; 3.11 and 3.13 with none).
WORKER = """
import gc, json, runpy, sys
at_start = gc.get_freeze_count()
import django
django.setup()
urlconf = "tests.urls"
before = urlconf in sys.modules
config = runpy.run_path(sys.argv[1])
config["post_worker_init"](None)
from django.urls import get_resolver
patterns = get_resolver().url_patterns
tracked = any(o is patterns for o in gc.get_objects())
print(json.dumps({
    "imported_before": before,
    "imported_after": urlconf in sys.modules,
    "frozen": gc.get_freeze_count() - at_start,
    "patterns_tracked": tracked,
}))
"""


def start_worker(**env: str) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", WORKER, str(GUNICORN_CONFIG)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.integration
def test_a_worker_imports_the_urlconf_then_freezes_what_it_loaded() -> None:
    worker = start_worker(GUNICORN_GC_FREEZE="1")
    assert worker["imported_before"] is False  # Django imports it on the first request
    assert worker["imported_after"] is True
    assert isinstance(worker["frozen"], int)
    assert worker["frozen"] > 10_000
    # The API's URL patterns, loaded by the hook, are out of the collector's reach.
    assert worker["patterns_tracked"] is False


@pytest.mark.integration
def test_gunicorn_gc_freeze_0_leaves_the_collector_as_it_is() -> None:
    worker = start_worker(GUNICORN_GC_FREEZE="0")
    assert worker["frozen"] == 0
    assert worker["patterns_tracked"] is True
