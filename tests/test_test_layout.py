"""The test suite's own layout: helpers come from tests.fixtures, not other test modules."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def forbidden_imports(source: str) -> list[str]:
    """Modules ``source`` imports that are test modules or conftests.

    Args:
        source: Python source code.

    Returns:
        The dotted names of the offending imports, in order.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "tests" and any(
                p == "conftest" or p.startswith("test_") for p in parts[1:]
            ):
                found.append(name)
                break
    return found


def test_the_check_catches_each_kind_of_cross_test_import() -> None:
    assert forbidden_imports("from tests.conftest import API") == ["tests.conftest"]
    assert forbidden_imports("from tests.billing.conftest import platform") == [
        "tests.billing.conftest"
    ]
    assert forbidden_imports("def f():\n    from tests.core.test_x import y\n") == [
        "tests.core.test_x"
    ]
    assert forbidden_imports("import tests.engines.test_bad_audio") == [
        "tests.engines.test_bad_audio"
    ]
    assert forbidden_imports("from tests.engines import test_bad_audio") == [
        "tests.engines.test_bad_audio"
    ]
    assert forbidden_imports("from tests.fixtures.api import API") == []


def test_no_module_under_tests_imports_a_test_module_or_a_conftest() -> None:
    offenders = {
        str(path.relative_to(TESTS)): found
        for path in sorted(TESTS.rglob("*.py"))
        if (found := forbidden_imports(path.read_text()))
    }
    assert offenders == {}, "import helpers from tests.fixtures.* instead"
