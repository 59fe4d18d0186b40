"""docs/api.md documents every error code the code can produce and every API path.

Error codes are collected from the source, not from a list kept by hand: values
assigned to ``code`` (the exception classes' attributes, ``code = {...}.get(...)``),
``code="..."`` keyword arguments, strings passed in the position of a parameter
named ``code`` (``fail(pk, "worker_lost", ...)``, ``InvalidAudio("corrupt_audio",
...)``), defaults of such parameters, the status → code map of the HTTP error
handler and the invalid-audio codes — and every member of the error-code enums
(``error_codes.py`` of the core and of each app), which the tests below loop over.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "transcription_platform"
API_DOC = ROOT / "docs" / "api.md"
CODE_CELL = re.compile(r"^\|\s*`(?P<code>[a-z][a-z0-9_]*)`\s*\|", re.MULTILINE)


def literal_strings(node: ast.expr | None) -> set[str]:
    """The string literals an expression can evaluate to (a code, not a lookup key)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return literal_strings(node.body) | literal_strings(node.orelse)
    if isinstance(node, ast.Dict):
        return set().union(*(literal_strings(value) for value in node.values))
    if (  # {401: "a", ...}.get(status, "b")
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and isinstance(node.func.value, ast.Dict)
    ):
        fallback = literal_strings(node.args[1]) if len(node.args) > 1 else set()
        return literal_strings(node.func.value) | fallback
    return set()


def _modules() -> Iterator[ast.Module]:
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" not in path.parts:
            yield ast.parse(path.read_text(), filename=str(path))


def _code_positions(modules: list[ast.Module]) -> dict[str, int]:
    """Callable name → index of its positional ``code`` parameter (``self`` skipped);
    a class whose ``__init__`` takes one is listed under the class name."""
    positions = {}
    for module in modules:
        for node in ast.walk(module):
            functions = [node] if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else []
            if isinstance(node, ast.ClassDef):
                functions = [f for f in node.body if isinstance(f, ast.FunctionDef)]
            for function in functions:
                names = [arg.arg for arg in function.args.posonlyargs + function.args.args]
                if names and names[0] in ("self", "cls"):
                    names = names[1:]
                if "code" in names:
                    name = node.name if function.name == "__init__" else function.name
                    positions[name] = names.index("code")
    return positions


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _code_default(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
    arguments = function.args.posonlyargs + function.args.args
    defaults = dict(
        zip(
            [a.arg for a in arguments[len(arguments) - len(function.args.defaults) :]],
            function.args.defaults,
            strict=True,
        )
    )
    for arg, default in zip(function.args.kwonlyargs, function.args.kw_defaults, strict=True):
        defaults[arg.arg] = default
    return defaults.get("code")


def error_codes_in_source() -> set[str]:
    from transcription_platform.engines.errors import INVALID_AUDIO_STATUS
    from transcription_platform.exceptions import STATUS_CODES

    modules = list(_modules())
    positions = _code_positions(modules)
    codes = set(STATUS_CODES.values()) | set(INVALID_AUDIO_STATUS)
    codes |= {member.value for enum in error_code_enums() for member in enum}
    for module in modules:
        for node in ast.walk(module):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "code" for t in targets):
                    codes |= literal_strings(node.value)
            elif isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg == "code":
                        codes |= literal_strings(keyword.value)
                index = positions.get(_callee(node) or "")
                if index is not None and index < len(node.args):
                    codes |= literal_strings(node.args[index])
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                codes |= literal_strings(_code_default(node))
    return codes


def error_code_enums() -> list[type[StrEnum]]:
    """The ``*ErrorCode`` enums of every ``error_codes.py`` in the package."""
    enums = []
    for path in sorted(SRC.rglob("error_codes.py")):
        dotted = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        module = importlib.import_module(dotted)
        enums += [
            value
            for name, value in vars(module).items()
            if name.endswith("ErrorCode") and isinstance(value, type) and issubclass(value, StrEnum)
        ]
    return enums


def documented_codes() -> set[str]:
    """Codes in the first column of the tables of the "Errors" section."""
    section = API_DOC.read_text().split("\n## Errors", 1)[1].split("\n## ", 1)[0]
    return {match["code"] for match in CODE_CELL.finditer(section)}


def test_the_collector_finds_codes_of_every_kind() -> None:
    codes = error_codes_in_source()
    assert {
        "not_found",  # exception class attribute
        "page_not_found",  # code="..." keyword
        "worker_lost",  # positional, services.fail(pk, "worker_lost", ...)
        "method_not_allowed",  # positional, error_response(405, "method_not_allowed")
        "email_taken",  # positional, _field_error(field, messages, "email_taken")
        "engine_rate_limited",  # code="a" if ... else "b"
        "chunk_too_large",  # code = {413: "chunk_too_large"}.get(...)
        "corrupt_audio",  # positional, InvalidAudio("corrupt_audio", ...)
        "bad_request",  # STATUS_CODES of the HTTP error handler
    } <= codes


def test_every_app_has_an_error_code_enum() -> None:
    names = {enum.__name__ for enum in error_code_enums()}
    assert {
        "PlatformErrorCode",
        "AccountErrorCode",
        "TranscriptionErrorCode",
        "AnalysisErrorCode",
        "AuditErrorCode",
    } <= names


def test_every_enum_error_code_is_documented() -> None:
    documented = documented_codes()
    missing = sorted(
        f"{enum.__name__}.{member.name}"
        for enum in error_code_enums()
        for member in enum
        if member.value not in documented
    )
    assert not missing, f"add these codes to the error tables of docs/api.md: {missing}"


def test_one_code_belongs_to_one_enum() -> None:
    # The same condition has the same code everywhere: no code is defined twice.
    owners: dict[str, list[str]] = {}
    for enum in error_code_enums():
        for member in enum:
            owners.setdefault(member.value, []).append(enum.__name__)
    shared = {code: names for code, names in owners.items() if len(names) > 1}
    assert not shared, shared


def test_every_error_code_is_documented() -> None:
    missing = sorted(error_codes_in_source() - documented_codes())
    assert not missing, f"add these codes to the error tables of docs/api.md: {missing}"


def test_no_documented_error_code_is_stale() -> None:
    stale = sorted(documented_codes() - error_codes_in_source())
    assert not stale, f"docs/api.md documents codes the source never produces: {stale}"


@pytest.mark.django_db
def test_every_api_path_is_documented() -> None:
    from transcription_platform.api import api

    text = API_DOC.read_text()
    prefix = "/rest/api/v1"
    paths = api.get_openapi_schema(path_prefix=prefix)["paths"]
    missing = sorted(
        f"{method.upper()} {path.removeprefix(prefix)}"
        for path, operations in paths.items()
        for method in operations
        if f"`{method.upper()} {path.removeprefix(prefix)}`" not in text
    )
    assert not missing, f"document these operations in docs/api.md: {missing}"
