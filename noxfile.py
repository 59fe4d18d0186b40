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


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on SQLite, with branch coverage."""
    install_with_groups(session, "-e.", "test")
    run_pytest(session, {"DATABASE_URL": ""})


@nox.session
def tests_postgres(session: nox.Session) -> None:
    """The test suite on PostgreSQL (``DATABASE_URL``, default: the local server)."""
    install_with_groups(session, "-e.", "test")
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    run_pytest(session, {"DATABASE_URL": database_url})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting (no changes made)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site; any warning fails (``--strict``)."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


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
    127.0.0.1, re-created by every run), Redis on 127.0.0.1 and ``wrk``.
    """
    session.install("-e.[demo,postgres]", "gunicorn>=22", "redis>=5")
    session.run("python", "-m", "benchmarks.run", *session.posargs)
