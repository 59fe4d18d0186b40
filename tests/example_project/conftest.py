"""Fixtures that run the example project in a subprocess (see tests/fixtures/example_project.py)."""

from tests.fixtures.example_project import example, production_env

__all__ = ["example", "production_env"]
