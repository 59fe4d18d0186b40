"""The docker-compose stack without Docker: the image's pip line, compose's commands.

Run with ``nox -s stack`` (or ``python example_project/stack.py`` with PyYAML). There
is no Docker engine on the development and CI machines, so this reproduces what the
image and compose would run, reading both files rather than copying from them:

1. a fresh virtualenv on the image's Python (``FROM python:X.Y-...``) gets the
   Dockerfile's own ``pip install`` line, run from the repository root as the image
   runs it from ``/app``;
2. the environment is the Dockerfile's ``ENV`` plus compose's app ``environment``
   (variables interpolated as ``docker compose config`` does), with the service host
   names mapped to this machine: ``postgres`` to the local server (database
   ``tp_docker_stack``, re-created), ``redis`` to the local Redis (database 12, flushed)
   — ``REDIS_URL`` is set exactly as compose sets it, only the host and number differ;
3. the Dockerfile's ``manage.py`` build steps (collectstatic), then compose's ``web``
   command (startup_checks, migrate, gunicorn — bound to 127.0.0.1 on ``--port``) and
   ``worker`` command (qcluster);
4. compose's health checks (``api_probe``, ``worker_probe``), then every family of API
   calls a client makes, each asserted; any unexpected answer, and any 500, fails.

``--dockerfile`` runs another Dockerfile's pip line (e.g. an older one, to see what it
broke); ``--reuse-venv`` skips the install when the virtualenv exists.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PROJECT_DIR = Path(__file__).resolve().parent
REPO_DIR = PROJECT_DIR.parent
DOCKERFILE = PROJECT_DIR / "Dockerfile"
COMPOSE_FILE = REPO_DIR / "docker-compose.yml"
API = "/rest/api/v1"

STACK_DATABASE = "tp_docker_stack"
STACK_REDIS_DB = 12
DEFAULT_PORT = 18280
# Where the image keeps its data; mapped into a temporary directory here.
IMAGE_PATHS = ("/data", "/app/staticfiles")


class StackError(Exception):
    """A step of the stack check failed; the message says which and why."""


class WaitTimeout(StackError):
    """Something did not happen in time (while every process kept running)."""


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, arguments = current.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        current = ""
    return instructions


def dockerfile_python(text: str) -> str:
    """The ``X.Y`` of the ``FROM python:X.Y...`` base image."""
    for keyword, arguments in dockerfile_instructions(text):
        if keyword == "FROM":
            match = re.match(r"(?:docker\.io/(?:library/)?)?python:(\d+\.\d+)", arguments)
            if match:
                return match.group(1)
    raise StackError("the Dockerfile is not based on a python:X.Y image")


def dockerfile_env(text: str) -> dict[str, str]:
    """Every variable the ``ENV`` instructions set (``KEY=value`` form)."""
    env: dict[str, str] = {}
    for keyword, arguments in dockerfile_instructions(text):
        if keyword == "ENV":
            for token in shlex.split(arguments):
                name, _, value = token.partition("=")
                env[name] = value
    return env


def dockerfile_pip_install(text: str) -> list[str]:
    """The arguments of the image's ``RUN pip install ...`` (after ``install``)."""
    for keyword, arguments in dockerfile_instructions(text):
        if keyword != "RUN":
            continue
        tokens = shlex.split(arguments)
        for start in range(len(tokens) - 1):
            if tokens[start] in ("pip", "pip3") and tokens[start + 1] == "install":
                end = tokens.index("&&", start) if "&&" in tokens[start:] else len(tokens)
                return tokens[start + 2 : end]
    raise StackError("the Dockerfile has no RUN pip install line")


def dockerfile_manage_steps(text: str) -> list[str]:
    """The shell lines of the ``RUN`` instructions that call ``manage.py`` (build steps
    such as collectstatic), in order."""
    return [
        arguments
        for keyword, arguments in dockerfile_instructions(text)
        if keyword == "RUN" and "manage.py" in arguments
    ]


# --------------------------------------------------------------------------- compose

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(StackError):
    """A ``${NAME:?message}`` variable is unset, as ``docker compose config`` reports."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"required variable {name} is missing a value: {message}")
        self.name = name


def interpolate(value: str, environ: dict[str, str]) -> str:
    """Compose's variable substitution: ``$$``, ``$X``, ``${X}``, ``${X:-d}``, ``${X-d}``,
    ``${X:?err}``, ``${X?err}``, ``${X:+alt}``.

    Raises:
        MissingVariable: a required variable is unset (or empty, with ``:?``).
    """

    def replace(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("named")
        op, arg = match.group("op"), match.group("arg") or ""
        present = name in environ
        value = environ.get(name, "")
        unset_or_empty = not value
        if op in (":-", "-"):
            return arg if (unset_or_empty if op == ":-" else not present) else value
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else not present:
                raise MissingVariable(name, arg)
            return value
        if op in (":+", "+"):
            return arg if (not unset_or_empty if op == ":+" else present) else ""
        return value

    return _VARIABLE.sub(replace, value)


def _interpolate_tree(node: Any, environ: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, environ)
    if isinstance(node, list):
        return [_interpolate_tree(item, environ) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(item, environ) for key, item in node.items()}
    return node


def load_compose(text: str, environ: dict[str, str]) -> dict[str, Any]:
    """The compose file as ``docker compose config`` resolves it: YAML anchors and
    ``<<`` merge keys applied, variables interpolated, ``x-`` extension keys dropped,
    list-form ``environment`` turned into a mapping.

    Raises:
        MissingVariable: a required variable is unset.
    """
    import yaml  # PyYAML's safe loader applies anchors and merge keys

    document = yaml.safe_load(text)
    document = {key: value for key, value in document.items() if not key.startswith("x-")}
    resolved = _interpolate_tree(document, environ)
    for service in resolved.get("services", {}).values():
        environment = service.get("environment")
        if isinstance(environment, list):
            service["environment"] = dict(item.partition("=")[::2] for item in environment)
        if isinstance(service.get("environment"), dict):
            service["environment"] = {
                key: "" if value is None else str(value)
                for key, value in service["environment"].items()
            }
    return resolved


def command_line(command: str | list[str]) -> list[str]:
    """A compose ``command`` (string or list) as an argument vector."""
    return shlex.split(command) if isinstance(command, str) else list(command)


def healthcheck_command(healthcheck: dict[str, Any]) -> list[str]:
    """A compose ``healthcheck.test`` as an argument vector (``CMD``/``CMD-SHELL``)."""
    test = healthcheck["test"]
    if isinstance(test, str):
        return ["sh", "-c", test]
    kind, *rest = test
    if kind == "CMD":
        return rest
    if kind == "CMD-SHELL":
        return ["sh", "-c", " ".join(rest)]
    raise StackError(f"unsupported healthcheck test {test!r}")


def duration_seconds(value: str) -> float:
    """A compose duration (``1m30s``, ``10s``, ``500ms``) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise StackError(f"not a compose duration: {value!r}")
    return sum(float(number) * units[unit] for number, unit in parts)


# --------------------------------------------------------------------------- environment


def map_service_url(url: str, *, netloc: str, path: str) -> str:
    """``url`` with its host part and path replaced (compose's service names → here)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


def stack_environment(
    dockerfile_text: str, compose: dict[str, Any], data_dir: Path, venv_bin: Path
) -> dict[str, str]:
    """The web/worker containers' environment, pointed at this machine's services."""
    env = dockerfile_env(dockerfile_text)
    env.update(compose["services"]["web"]["environment"])
    for key, value in env.items():
        for image_path in IMAGE_PATHS:
            if value == image_path or value.startswith(image_path + "/"):
                env[key] = str(data_dir / value.lstrip("/"))
    env["DATABASE_URL"] = map_service_url(
        env["DATABASE_URL"], netloc="postgres@127.0.0.1:5432", path=f"/{STACK_DATABASE}"
    )
    redis = urlsplit(env["REDIS_URL"])
    env["REDIS_URL"] = map_service_url(
        env["REDIS_URL"], netloc=f"127.0.0.1:{redis.port or 6379}", path=f"/{STACK_REDIS_DB}"
    )
    # The image has no model hub access either: the bundled model must be enough.
    env["HF_HUB_OFFLINE"] = "1"
    env["PATH"] = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    env["HOME"] = str(data_dir)
    env.setdefault("LANG", "C.UTF-8")
    return env


# --------------------------------------------------------------------------- processes


def find_python(version: str) -> str:
    """An interpreter of the image's Python ``X.Y``: ``pythonX.Y`` on PATH, else one
    installed by pyenv (whose shim answers only when that version is selected)."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}")]
    candidates += [
        str(p) for p in sorted(pyenv_root.glob(f"versions/{version}.*/bin/python{version}"))
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(  # noqa: S603
            [candidate, "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0:
            return candidate
    raise StackError(f"no working python{version} (the image's Python) on PATH or in pyenv")


def run(args: list[str], *, env: dict[str, str] | None = None, cwd: Path = PROJECT_DIR) -> str:
    """Run to completion; a non-zero exit is a StackError showing the output's end."""
    result = subprocess.run(  # noqa: S603
        args, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        raise StackError(f"{shlex.join(args)} exited with {result.returncode}:\n{tail}")
    return result.stdout


def build_venv(venv: Path, python: str, pip_args: list[str], *, reuse: bool) -> Path:
    """A fresh virtualenv with the image's pip line installed; returns its bin dir."""
    bin_dir = venv / "bin"
    if reuse and (bin_dir / "python").exists():
        print(f"  reusing {venv}")
        return bin_dir
    if venv.exists():
        shutil.rmtree(venv)
    run([python, "-m", "venv", str(venv)], cwd=REPO_DIR)
    print(f"  pip install {shlex.join(pip_args)}   (in {REPO_DIR}, as in /app)")
    started = time.monotonic()
    # The image sets PIP_NO_CACHE_DIR to keep layers small; here the cache only saves time.
    pip_env = {k: v for k, v in os.environ.items() if k != "PIP_NO_CACHE_DIR"}
    pip_env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    run([str(bin_dir / "pip"), "install", "--quiet", *pip_args], env=pip_env, cwd=REPO_DIR)
    print(f"  installed in {time.monotonic() - started:.0f} s")
    return bin_dir


def reset_services(env: dict[str, str]) -> None:
    """Re-create the stack's PostgreSQL database and empty its Redis database.

    With the server's own clients: the image under test may lack a Python client (an
    image without the redis extra is exactly what this check must be able to run).
    """
    server = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
    run(["dropdb", *server, "--if-exists", "--force", STACK_DATABASE], env=env)
    run(["createdb", *server, STACK_DATABASE], env=env)
    redis = urlsplit(env["REDIS_URL"])
    run(
        [
            "redis-cli",
            "-h",
            "127.0.0.1",
            "-p",
            str(redis.port or 6379),
            "-n",
            str(STACK_REDIS_DB),
            "flushdb",
        ],
        env=env,
    )


@dataclass
class Service:
    """A process of the stack; its output goes to ``log``."""

    name: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise StackError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")


@contextmanager
def service(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Iterator[Service]:
    """A process in its own group, stopped (SIGTERM, then SIGKILL) on the way out."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603
            args,
            cwd=PROJECT_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    print(f"  started {name} (pid {process.pid}, log {log})")
    try:
        yield Service(name, process, log)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def wait_for(
    what: str, attempt: Callable[[], bool], services: list[Service], timeout: float
) -> float:
    """Call ``attempt`` every second until it is true; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        for running in services:
            running.check_alive()
        if attempt():
            return time.monotonic() - started
        time.sleep(1)
    raise WaitTimeout(f"{what}: not within {timeout:.0f} s")


# --------------------------------------------------------------------------- API calls


def load_demo_client() -> Any:
    """The demo's standard-library client (example_project/demo.py)."""
    spec = importlib.util.spec_from_file_location("example_demo", PROJECT_DIR / "demo.py")
    if spec is None or spec.loader is None:
        raise StackError("example_project/demo.py cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Results:
    """Every call made, with whether its answer was the expected one."""

    rows: list[tuple[str, str, str, int, bool]] = field(default_factory=list)

    def record(self, family: str, call: str, expected: str, status: int, ok: bool) -> bool:
        self.rows.append((family, call, expected, status, ok))
        mark = "ok  " if ok else "FAIL"
        print(f"  {mark} {family:<13} {call:<58} {status} (expected {expected})")
        return ok

    @property
    def failed(self) -> list[tuple[str, str, str, int, bool]]:
        return [row for row in self.rows if not row[4]]


def is_error_shape(response: Any) -> bool:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and {"code", "message", "details"} <= set(error)


def drive_api(demo: Any, base_url: str, sample: Path, services: list[Service]) -> Results:
    """Every family of API calls a client makes, each checked."""
    results = Results()
    client = demo.Client(base_url)

    def check(family: str, method: str, path: str, expected: int, response: Any) -> bool:
        ok = response.status == expected
        if ok and expected >= 400:
            ok = is_error_shape(response)
        if not ok:
            print(f"       {demo.explain(response)}")
        return results.record(family, f"{method} {path}", str(expected), response.status, ok)

    check("health", "GET", "/healthz", 200, client.get("/healthz"))
    check(
        "health",
        "GET",
        f"{API}/transcriptions/health/",
        200,
        client.get(f"{API}/transcriptions/health/"),
    )

    email = f"stack-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(16)
    registered = client.post_json(
        f"{API}/auth/registration/", {"email": email, "password": password}
    )
    check("registration", "POST", f"{API}/auth/registration/", 201, registered)
    check(
        "registration",
        "POST",
        f"{API}/auth/registration/ (weak password)",
        400,
        client.post_json(f"{API}/auth/registration/", {"email": "x" + email, "password": "1"}),
    )
    login = client.post_json(f"{API}/auth/login/", {"email": email, "password": password})
    if not check("login", "POST", f"{API}/auth/login/", 200, login):
        return results
    tokens = login.json()
    client.token = tokens["access"]
    check(
        "login",
        "POST",
        f"{API}/auth/login/ (wrong password)",
        400,
        demo.Client(base_url).post_json(
            f"{API}/auth/login/", {"email": email, "password": password + "x"}
        ),
    )
    check("auth", "GET", f"{API}/auth/me/", 200, client.get(f"{API}/auth/me/"))
    refreshed = client.post_json(f"{API}/auth/refresh/", {"refresh": tokens["refresh"]})
    check("auth", "POST", f"{API}/auth/refresh/", 200, refreshed)
    anonymous = demo.Client(base_url)
    check(
        "auth",
        "GET",
        f"{API}/transcriptions/ (no token)",
        401,
        anonymous.get(f"{API}/transcriptions/"),
    )

    check("settings", "GET", f"{API}/settings/", 200, client.get(f"{API}/settings/"))
    patched = client.request(
        "PATCH",
        f"{API}/settings/",
        body=json.dumps({"language": "en"}).encode(),
        content_type="application/json",
    )
    check("settings", "PATCH", f"{API}/settings/", 200, patched)
    bad = client.request(
        "PATCH",
        f"{API}/settings/",
        body=json.dumps({"language": "not a language"}).encode(),
        content_type="application/json",
    )
    check("settings", "PATCH", f"{API}/settings/ (bad language)", 400, bad)

    key = client.post_json(f"{API}/auth/api-keys/", {"name": "stack"})
    check("api keys", "POST", f"{API}/auth/api-keys/", 201, key)
    check("api keys", "GET", f"{API}/auth/api-keys/", 200, client.get(f"{API}/auth/api-keys/"))
    if key.status == 201:
        with_key = demo.Client(base_url)
        with_key.token = key.json()["key"]
        check(
            "api keys",
            "GET",
            f"{API}/transcriptions/ (API key)",
            200,
            with_key.get(f"{API}/transcriptions/"),
        )
        revoked = client.request("DELETE", f"{API}/auth/api-keys/{key.json()['id']}/")
        check("api keys", "DELETE", f"{API}/auth/api-keys/<id>/", 204, revoked)
        check(
            "api keys",
            "GET",
            f"{API}/transcriptions/ (revoked key)",
            401,
            with_key.get(f"{API}/transcriptions/"),
        )

    created = client.post_file(
        f"{API}/transcriptions/", "audio_file", sample, {"language": "en", "title": "stack"}
    )
    check("create", "POST", f"{API}/transcriptions/ ({sample.name})", 201, created)
    check(
        "create",
        "POST",
        f"{API}/transcriptions/ (a text file)",
        415,
        client.post_file(f"{API}/transcriptions/", "audio_file", Path(__file__), {}),
    )
    if created.status == 201:
        drive_job(demo, client, created.json()["id"], sample, services, check, results)
    else:
        # Without a job there is nothing to list, export or analyse: still list.
        check("list", "GET", f"{API}/transcriptions/", 200, client.get(f"{API}/transcriptions/"))
    refresh = (refreshed.json() or {}).get("refresh") or tokens["refresh"]
    check(
        "auth",
        "POST",
        f"{API}/auth/logout/",
        204,
        client.post_json(f"{API}/auth/logout/", {"refresh": refresh}),
    )
    return results


def drive_job(
    demo: Any,
    client: Any,
    job_id: str,
    sample: Path,
    services: list[Service],
    check: Callable[..., bool],
    results: Results,
) -> None:
    """The calls about one transcription: follow it, list, detail, exports, audio,
    analysis, delete."""
    job_path = f"{API}/transcriptions/{job_id}"
    shown = f"{API}/transcriptions/<id>"  # keeps the report's lines short

    final: dict[str, Any] = {}

    def finished() -> bool:
        response = client.get(job_path)
        if response.status != 200:
            raise StackError(f"GET {job_path}: {demo.explain(response)}")
        final.update(response.json())
        return final["status"] in demo.TERMINAL_STATUSES

    took = wait_for("the transcription to finish", finished, services, timeout=300)
    results.record(
        "process",
        f"wait for {job_id[:8]}… ({took:.0f} s)",
        "completed",
        200,
        final["status"] == "completed" and bool((final.get("text") or "").strip()),
    )
    if final["status"] != "completed":
        print(f"       ended {final['status']}: {final.get('error')}")

    listing = client.get(f"{API}/transcriptions/")
    check("list", "GET", f"{API}/transcriptions/", 200, listing)
    if listing.status == 200 and listing.json().get("count", 0) < 1:
        results.record("list", "… count >= 1", "1+", listing.status, False)
    check("detail", "GET", shown, 200, client.get(job_path))
    check(
        "detail",
        "GET",
        f"{API}/transcriptions/<unknown id>",
        404,
        client.get(f"{API}/transcriptions/00000000-0000-0000-0000-000000000000"),
    )
    for export_format in ("txt", "srt", "vtt", "json"):
        exported = client.get(f"{job_path}/export?format={export_format}")
        check("export", "GET", f"{shown}/export?format={export_format}", 200, exported)
    check(
        "export",
        "GET",
        f"{shown}/export?format=doc",
        422,
        client.get(f"{job_path}/export?format=doc"),
    )
    audio = client.request("GET", f"{job_path}/audio")
    check("audio", "GET", f"{shown}/audio", 200, audio)
    if audio.status == 200 and audio.body != sample.read_bytes():
        results.record("audio", "… same bytes as uploaded", "equal", audio.status, False)

    analysis: dict[str, Any] = {}

    def analysed() -> bool:
        response = client.get(f"{job_path}/analysis")
        analysis.update(status_code=response.status, **(response.json() or {}))
        return response.status == 200 and analysis.get("status") in ("completed", "failed")

    with suppress(WaitTimeout):
        wait_for("the analysis", analysed, services, timeout=120)
    results.record(
        "analysis",
        f"GET {shown}/analysis",
        "200 completed",
        int(analysis.get("status_code", 0)),
        analysis.get("status") == "completed",
    )

    check("delete", "DELETE", shown, 204, client.request("DELETE", job_path))


# --------------------------------------------------------------------------- the run


def start_stack(args: argparse.Namespace, workdir: Path, exits: ExitStack) -> tuple[str, Any]:
    """Install, configure and start web + worker; returns the base URL and services."""
    dockerfile_text = args.dockerfile.read_text()
    python_version = args.python or dockerfile_python(dockerfile_text)
    pip_args = dockerfile_pip_install(dockerfile_text)
    # Placeholders for compose's required variables, as an operator exports them.
    compose_env = {
        **os.environ,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
    }
    compose = load_compose(COMPOSE_FILE.read_text(), compose_env)

    print(f"Installing the image's pip line on Python {python_version}...")
    venv = args.venv or workdir / "venv"
    bin_dir = build_venv(venv, find_python(python_version), pip_args, reuse=args.reuse_venv)
    env = stack_environment(dockerfile_text, compose, workdir / "image", bin_dir)
    for path_var in ("DJANGO_VAR_DIR", "DJANGO_MEDIA_ROOT", "DJANGO_LOG_DIR"):
        Path(env[path_var]).mkdir(parents=True, exist_ok=True)
    shown = ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DJANGO_SECURE_SSL_REDIRECT")
    for name in shown:
        print(f"  {name}={env[name]}")

    print("Re-creating the database and emptying Redis database 12...")
    reset_services(env)
    print("Build steps of the Dockerfile (manage.py)...")
    for step in dockerfile_manage_steps(dockerfile_text):
        # The build's own throw-away paths stay inside this run's directory.
        step = step.replace("/tmp/", f"{workdir}/build-tmp/")  # noqa: S108  (replacing it)
        (workdir / "build-tmp").mkdir(exist_ok=True)
        run(["sh", "-c", step], env=env)
        print(f"  {step}")

    port = args.port
    base_url = f"http://127.0.0.1:{port}"
    web_command = command_line(compose["services"]["web"]["command"])
    web_command = [part.replace("0.0.0.0:8000", f"127.0.0.1:{port}") for part in web_command]
    worker_command = command_line(compose["services"]["worker"]["command"])
    print("Starting compose's web and worker commands...")
    log_dir = workdir / "logs"
    log_dir.mkdir(exist_ok=True)
    web = exits.enter_context(service("web", web_command, env, log_dir))
    return base_url, (compose, env, [web], worker_command, log_dir)


def run_healthcheck(
    name: str,
    compose: dict[str, Any],
    env: dict[str, str],
    base_url: str,
    services: list[Any],
    results: Results,
) -> None:
    """compose's health check of service ``name``, until it passes (as compose waits
    before starting what depends on it)."""
    healthcheck = compose["services"][name]["healthcheck"]
    command = healthcheck_command(healthcheck)
    if "api_probe" in command:
        command = [*command, "--base-url", base_url]
    last = {"returncode": -1, "output": ""}

    def passes() -> bool:
        result = subprocess.run(  # noqa: S603
            command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, check=False
        )
        last.update(returncode=result.returncode, output=(result.stdout + result.stderr).strip())
        return result.returncode == 0

    limit = duration_seconds(healthcheck.get("start_period", "0s")) + 60
    try:
        took = wait_for(f"{name} health check", passes, services, timeout=limit)
    except WaitTimeout:
        took = limit
    call = f"{name}: {shlex.join(command[:4])} ({took:.0f} s)"
    if not results.record(
        "healthcheck", call, "exit 0", int(last["returncode"]), last["returncode"] == 0
    ):
        print(f"       {str(last['output']).splitlines()[-1:] or 'no output'}")


def check_logs(services: list[Any], results: Results) -> None:
    """No request answered 500 and no traceback in either process's log."""
    web_log = services[0].log.read_text(errors="replace")
    server_errors = re.findall(r'"[A-Z]+ [^"]+" 5\d\d ', web_log)
    results.record(
        "logs", "web: responses with status 5xx", "0", len(server_errors), not server_errors
    )
    for running in services:
        tracebacks = running.log.read_text(errors="replace").count("Traceback (most recent")
        results.record("logs", f"{running.name}: tracebacks", "0", tracebacks, tracebacks == 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dockerfile",
        type=Path,
        default=DOCKERFILE,
        help="Dockerfile whose pip line to install (default: the example's)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port of gunicorn on 127.0.0.1 (default %(default)s)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="directory for the venv, data and logs (default: a temporary one)",
    )
    parser.add_argument("--venv", type=Path, help="virtualenv path (default: WORKDIR/venv)")
    parser.add_argument(
        "--reuse-venv",
        action="store_true",
        help="skip the install when the virtualenv already exists",
    )
    parser.add_argument(
        "--python",
        help="Python X.Y of the virtualenv (default: the Dockerfile's FROM python:X.Y)",
    )
    parser.add_argument(
        "--sample",
        type=Path,
        default=REPO_DIR / "samples" / "speech_en.ogg",
        help="audio to transcribe (default: samples/speech_en.ogg)",
    )
    args = parser.parse_args(argv)
    demo = load_demo_client()
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="tp-stack-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = Results()
    try:
        with ExitStack() as exits:
            base_url, (compose, env, services, worker_command, log_dir) = start_stack(
                args, workdir, exits
            )
            client = demo.Client(base_url)

            def serving() -> bool:
                try:
                    return client.get("/healthz").status == 200
                except OSError:
                    return False

            took = wait_for("gunicorn to answer /healthz", serving, services, timeout=180)
            print(f"  serving on {base_url} after {took:.0f} s (startup_checks, migrate)")
            print("Compose's health checks (the worker starts once web is healthy)...")
            run_healthcheck("web", compose, env, base_url, services, results)
            services.append(exits.enter_context(service("worker", worker_command, env, log_dir)))
            run_healthcheck("worker", compose, env, base_url, services, results)
            print("Every family of API calls...")
            results.rows += drive_api(demo, base_url, args.sample, services).rows
            check_logs(services, results)
    except StackError as error:
        print(f"\nStack check failed: {error}", file=sys.stderr)
        return 1
    failed = results.failed
    print(
        f"\n{len(results.rows) - len(failed)} passed, {len(failed)} failed "
        f"({time.monotonic() - started:.0f} s; logs in {workdir / 'logs'})"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
