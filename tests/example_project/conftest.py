"""Helpers that run the example project in a subprocess with a controlled environment.

Settings modules are loaded in a fresh interpreter: they read the environment at
import time and a production settings module must be able to refuse to load.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management.utils import get_random_secret_key

PROJECT_DIR = Path(__file__).resolve().parents[2] / "example_project"

# Variables the settings read: never inherited from the developer's shell or CI.
CLEARED = (
    "DJANGO_",
    "DATABASE_URL",
    "REDIS_URL",
    "CACHE_URL",
    "SENTRY_",
    "OPENAI_API_KEY",
    "VOXTRAL_API_KEY",
    "TP_",
    "Q_CLUSTER_",
    "AWS_",
    "CONN_MAX_AGE",
    "RATELIMIT_",
)

# Reading settings imports the settings module only: no app is loaded, which is faster.
DUMP = """
import json
from django.conf import settings as s
names = {names!r}
print("SETTINGS-JSON:" + json.dumps({{n: getattr(s, n, None) for n in names}}, default=str))
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class ExampleProject:
    tmp: Path

    def env(self, settings: str, **overrides: str | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
        env.update(
            DJANGO_SETTINGS_MODULE=f"config.settings.{settings}",
            DJANGO_ENV_FILE="",
            DJANGO_LOG_DIR=str(self.tmp / "logs"),
            DJANGO_VAR_DIR=str(self.tmp / "var"),
        )
        for name, value in overrides.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def run(self, args: list[str], settings: str, **env: str | None) -> Result:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=PROJECT_DIR,
            env=self.env(settings, **env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def manage(self, *args: str, settings: str = "local", **env: str | None) -> Result:
        return self.run(["manage.py", *args], settings, **env)

    def settings(self, settings: str, *names: str, **env: str | None) -> dict[str, Any]:
        """The named Django settings as loaded by ``config.settings.<settings>``."""
        result = self.run(["-c", DUMP.format(names=names)], settings, **env)
        assert result.returncode == 0, result.output
        line = next(x for x in result.stdout.splitlines() if x.startswith("SETTINGS-JSON:"))
        return json.loads(line.removeprefix("SETTINGS-JSON:"))


@pytest.fixture
def example(tmp_path: Path) -> ExampleProject:
    return ExampleProject(tmp_path)


@pytest.fixture
def production_env(tmp_path: Path) -> dict[str, str]:
    """What a real deployment sets: a strong key, a database, an encryption key."""
    return {
        # Django's generator uses "$"; a leading one once made django-environ read the
        # key as a reference to another variable.
        "DJANGO_SECRET_KEY": "$" + get_random_secret_key()[1:],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        "TP_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
