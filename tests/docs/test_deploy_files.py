"""docker-compose.yml and the example project's Dockerfile stay consistent with the code.

Docker cannot run here, so these check what can drift without it: the compose file
parses and has the documented services, every variable it passes is one the example
settings read, and the Dockerfile copies paths that exist and runs modules that exist.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
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


def variables_read_by_gunicorn() -> set[str]:
    source = (ROOT / "example_project" / "gunicorn.conf.py").read_text()
    return set(re.findall(r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]*)"', source))


def test_compose_has_web_worker_postgres_and_redis() -> None:
    services = compose()["services"]
    assert set(services) == {"web", "worker", "postgres", "redis"}
    assert services["worker"]["command"] == ["python", "manage.py", "qcluster"]
    assert "migrate --noinput" in " ".join(services["web"]["command"])
    # The worker reads the audio the web process stored: both mount the same volume.
    assert services["web"]["volumes"] == services["worker"]["volumes"]


def test_compose_passes_only_variables_the_settings_read() -> None:
    read = variables_read_by_settings() | variables_read_by_gunicorn()
    assert {"WEB_CONCURRENCY", "GUNICORN_THREADS"} <= read
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


# --------------------------------------------------------------------------- compose, resolved
# The file as `docker compose config` sees it: example_project/stack.py resolves it (and
# `nox -s stack` runs what it resolves), so these tests and the stack share one reading.


def _load_stack():
    spec = importlib.util.spec_from_file_location(
        "example_stack", ROOT / "example_project" / "stack.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through here
    spec.loader.exec_module(module)
    return module


stack = _load_stack()
REQUIRED = {"DJANGO_SECRET_KEY": "k" * 50, "POSTGRES_PASSWORD": "pw"}


def resolved() -> dict:
    return stack.load_compose(COMPOSE.read_text(), dict(REQUIRED))


def app_services() -> dict[str, dict]:
    return {name: resolved()["services"][name] for name in ("web", "worker")}


def pip_extras() -> set[str]:
    """The extras of the project in the Dockerfile's pip line (``./[a,b]``)."""
    for argument in stack.dockerfile_pip_install(DOCKERFILE.read_text()):
        match = re.fullmatch(r"\.?/?\[([\w,-]+)\]", argument)
        if match:
            return set(match.group(1).split(","))
    raise AssertionError("the Dockerfile's pip line does not install the project with extras")


class TestInterpolation:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("${A}", "a"),
            ("$A/x", "a/x"),
            ("$$A", "$A"),
            ("${UNSET:-d}", "d"),
            ("${EMPTY:-d}", "d"),
            ("${EMPTY-d}", ""),
            ("${A:?must}", "a"),
            ("${A:+alt}", "alt"),
            ("${UNSET:+alt}", ""),
            ("postgres://app:${A}@h/db", "postgres://app:a@h/db"),
        ],
    )
    def test_substitution_follows_compose(self, text: str, expected: str) -> None:
        assert stack.interpolate(text, {"A": "a", "EMPTY": ""}) == expected

    @pytest.mark.parametrize("text", ["${EMPTY:?needed}", "${UNSET?needed}"])
    def test_required_variable_is_an_error(self, text: str) -> None:
        with pytest.raises(stack.MissingVariable, match="needed"):
            stack.interpolate(text, {"EMPTY": ""})


def test_compose_requires_exactly_the_documented_secrets() -> None:
    for name in REQUIRED:
        environ = {k: v for k, v in REQUIRED.items() if k != name}
        with pytest.raises(stack.MissingVariable) as missing:
            stack.load_compose(COMPOSE.read_text(), environ)
        assert missing.value.name == name
    documented = (ROOT / "docs" / "operations.md").read_text()
    assert all(f"export {name}=" in documented for name in REQUIRED)


def test_anchors_and_merge_keys_give_both_app_services_the_same_base() -> None:
    compose = resolved()
    assert not any(key.startswith("x-") for key in compose)
    web, worker = compose["services"]["web"], compose["services"]["worker"]
    for key in ("build", "image", "environment", "volumes"):
        assert web[key] == worker[key], key
    assert web["environment"]["DATABASE_URL"] == "postgres://app:pw@postgres:5432/app"
    assert web["environment"]["DJANGO_SECURE_SSL_REDIRECT"] == "false"
    # The worker's own depends_on replaced the anchor's: it waits for migrations (web).
    assert worker["depends_on"]["web"] == {"condition": "service_healthy"}


def test_every_extra_compose_relies_on_is_in_the_image() -> None:
    extras = pip_extras()
    declared = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    )
    assert extras <= declared, f"the Dockerfile names unknown extras: {extras - declared}"
    env = app_services()["web"]["environment"]
    # REDIS_URL without the client made every API call answer 500 (issue 10).
    needs = {"REDIS_URL": "redis", "DATABASE_URL": "postgres", "SENTRY_DSN": "sentry"}
    for variable, extra in needs.items():
        assert variable in env
        assert extra in extras, f"compose sets {variable} but the image lacks [{extra}]"
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://")
    # The example settings need django-environ and django-cors-headers: the demo extra.
    assert "demo" in extras
    assert any(
        a.startswith("gunicorn") for a in stack.dockerfile_pip_install(DOCKERFILE.read_text())
    )


def test_image_uses_the_newest_python_the_project_claims() -> None:
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    claimed = [
        tuple(int(n) for n in c.rsplit(" ", 1)[1].split("."))
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    newest = ".".join(map(str, max(claimed)))
    assert stack.dockerfile_python(DOCKERFILE.read_text()) == newest


def test_image_runs_as_a_numeric_non_root_user() -> None:
    users = [a for k, a in stack.dockerfile_instructions(DOCKERFILE.read_text()) if k == "USER"]
    assert users, "the image runs as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0


def test_ports_agree_between_gunicorn_compose_the_image_and_the_probe() -> None:
    web = app_services()["web"]
    command = " ".join(stack.command_line(web["command"]))
    bind_port = int(re.search(r"--bind \S+:(\d+)", command).group(1))
    published = [str(p).split(":") for p in web["ports"]]
    assert [int(container) for *_, container in published] == [bind_port]
    exposed = [a for k, a in stack.dockerfile_instructions(DOCKERFILE.read_text()) if k == "EXPOSE"]
    assert exposed == [str(bind_port)]
    from transcription_platform.management.commands.api_probe import Command

    parser = Command().create_parser("manage.py", "api_probe")
    assert parser.get_default("base_url") == f"http://127.0.0.1:{bind_port}"


def manage_commands_of_the_production_settings(tmp_path: Path) -> set[str]:
    """``manage.py help --commands`` under the image's settings and compose's variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TP_"))}
    env.update(stack.dockerfile_env(DOCKERFILE.read_text()))
    env.update(app_services()["web"]["environment"])
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_LOG_DIR=str(tmp_path / "logs"),
        DJANGO_VAR_DIR=str(tmp_path),
        DJANGO_MEDIA_ROOT=str(tmp_path / "media"),
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "help", "--commands"],
        cwd=ROOT / "example_project",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_every_command_and_health_check_runs_something_that_exists(tmp_path: Path) -> None:
    """Each binary is one the image has and each ``manage.py`` command one the
    production settings provide (compose would only find out at `up`)."""
    commands = manage_commands_of_the_production_settings(tmp_path)
    pip_line = stack.dockerfile_pip_install(DOCKERFILE.read_text())
    image_binaries = {"sh", "python"} | {
        name for name in ("gunicorn",) if any(a.startswith(name) for a in pip_line)
    }
    vectors: list[list[str]] = []
    for service in app_services().values():
        argv = stack.command_line(service["command"])
        if argv[:2] == ["sh", "-c"]:
            vectors += [shlex.split(part) for part in argv[2].split("&&")]
        else:
            vectors.append(argv)
        vectors.append(stack.healthcheck_command(service["healthcheck"]))
    for argv in vectors:
        binary = argv[1] if argv[0] == "exec" else argv[0]
        rest = argv[2:] if argv[0] == "exec" else argv[1:]
        assert binary in image_binaries, f"{binary} is not installed in the image"
        if binary == "python":
            assert rest[0] == "manage.py"
            assert rest[1] in commands, f"manage.py {rest[1]} does not exist"
        if binary == "gunicorn":
            module = rest[0].replace(".", "/") + ".py"
            assert (ROOT / "example_project" / module).exists()


def test_health_checks_probe_an_authenticated_request_and_the_worker() -> None:
    compose = resolved()
    services = compose["services"]
    web = stack.healthcheck_command(services["web"]["healthcheck"])
    worker = stack.healthcheck_command(services["worker"]["healthcheck"])
    assert web[-2:] == ["manage.py", "api_probe"]
    assert worker[-2:] == ["manage.py", "worker_probe"]
    for name, service in services.items():
        for target, condition in service.get("depends_on", {}).items():
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits on {target}"
        if "healthcheck" in service:
            check = service["healthcheck"]
            interval = stack.duration_seconds(check["interval"])
            assert stack.duration_seconds(check["timeout"]) <= interval
            assert check["retries"] >= 1


def test_the_api_probe_stays_under_its_accounts_rate_limit() -> None:
    """The probe account has the per-user limit of everyone: a probe every 10 s would
    be refused (429, so unhealthy) within hours."""
    from django_ratelimit.core import _split_rate

    from transcription_platform.conf import SETTINGS

    count, period = _split_rate(SETTINGS["RATE_LIMITS"].default["user"])
    check = resolved()["services"]["web"]["healthcheck"]
    interval = stack.duration_seconds(check["interval"])
    start = stack.duration_seconds(check["start_period"]) / stack.duration_seconds(
        check.get("start_interval", check["interval"])
    )
    assert period / interval + start < count


# --------------------------------------------------------------------------- the stack's reading


def test_dockerfile_parsing_joins_continuations_and_skips_comments() -> None:
    text = (
        "FROM python:3.13-slim\n# a comment\nENV A=1 \\\n    B=/data/x\n"
        'RUN pip install \\\n    "./[demo,redis]" "gunicorn>=23" && echo done\n'
        "RUN X=/tmp/y python manage.py collectstatic --noinput\n"
    )
    assert stack.dockerfile_python(text) == "3.13"
    assert stack.dockerfile_env(text) == {"A": "1", "B": "/data/x"}
    assert stack.dockerfile_pip_install(text) == ["./[demo,redis]", "gunicorn>=23"]
    assert stack.dockerfile_manage_steps(text) == [
        "X=/tmp/y python manage.py collectstatic --noinput"
    ]


@pytest.mark.parametrize(
    ("value", "seconds"), [("10s", 10), ("2m", 120), ("1m30s", 90), ("500ms", 0.5)]
)
def test_compose_durations(value: str, seconds: float) -> None:
    assert stack.duration_seconds(value) == seconds


def test_compose_durations_reject_garbage() -> None:
    with pytest.raises(stack.StackError):
        stack.duration_seconds("10 seconds")


def test_stack_environment_maps_compose_hosts_to_this_machine(tmp_path: Path) -> None:
    env = stack.stack_environment(DOCKERFILE.read_text(), resolved(), tmp_path, tmp_path / "bin")
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/12"
    assert env["DATABASE_URL"] == "postgres://postgres@127.0.0.1:5432/tp_docker_stack"
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
    assert env["DJANGO_SECURE_SSL_REDIRECT"] == "false"
    assert env["DJANGO_MEDIA_ROOT"] == str(tmp_path / "data" / "media")
    assert env["PATH"].startswith(str(tmp_path / "bin"))
