"""docker-compose.yml and the example project's Dockerfile stay consistent with the code.

Docker cannot run here, so these check what can drift without it: the compose file
parses and has the documented services, every variable it passes is one the example
settings read, and the Dockerfile copies paths that exist and runs modules that exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "example_project" / "Dockerfile"
SETTINGS_DIR = ROOT / "example_project" / "config" / "settings"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def variables_read_by_settings() -> set[str]:
    source = "\n".join(path.read_text() for path in SETTINGS_DIR.glob("*.py"))
    return set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]*)"', source))


def test_compose_has_web_worker_postgres_and_redis() -> None:
    services = compose()["services"]
    assert set(services) == {"web", "worker", "postgres", "redis"}
    assert services["worker"]["command"] == ["python", "manage.py", "qcluster"]
    assert "migrate --noinput" in " ".join(services["web"]["command"])
    # The worker reads the audio the web process stored: both mount the same volume.
    assert services["web"]["volumes"] == services["worker"]["volumes"]


def test_compose_passes_only_variables_the_settings_read() -> None:
    read = variables_read_by_settings()
    for name in ("web", "worker"):
        passed = set(compose()["services"][name]["environment"])
        assert passed <= read, f"{name} passes variables no setting reads: {passed - read}"


def test_dockerfile_variables_are_read_by_the_settings() -> None:
    text = DOCKERFILE.read_text()
    env_block = text.split("\nENV ", 1)[1].split("\n\n", 1)[0]
    names = set(re.findall(r"([A-Z][A-Z0-9_]*)=", env_block))
    ours = {n for n in names if n.startswith("DJANGO_")} - {"DJANGO_SETTINGS_MODULE"}
    assert ours <= variables_read_by_settings()


def test_dockerfile_copies_existing_paths_and_runs_existing_modules() -> None:
    text = DOCKERFILE.read_text()
    for sources in re.findall(r"^COPY (.+) \S+$", text, re.MULTILINE):
        for source in sources.split():
            assert (ROOT / source).exists(), f"COPY source {source} does not exist"
    assert "config.wsgi" in text
    assert (ROOT / "example_project" / "config" / "wsgi.py").exists()
    assert "config.settings.production" in text
    assert (SETTINGS_DIR / "production.py").exists()
