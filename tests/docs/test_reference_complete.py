"""What the docs tell users to import exists, and docs/reference.md documents it.

Collected from docs/*.md and README.md: ``from transcription_platform… import X``
statements (multi-line ones too) and dotted names ``transcription_platform.a.b.C``.
Each must import; each class, function or constant among them, and each module
imported by name, must be rendered by a ``::: path`` block of the reference page
(the block of the object itself, or of its module without a ``members`` filter that
leaves it out).
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
REFERENCE = ROOT / "docs" / "reference.md"

FROM_IMPORT = re.compile(
    r"from\s+(?P<module>transcription_platform[\w.]*)\s+import\s+"
    r"(?:\((?P<group>[^)]*)\)|(?P<line>[^\n#]+))"
)
DOTTED = re.compile(r"\btranscription_platform(?:\.\w+)+")
#: System check ids (transcription_platform.E001) are not Python names.
CHECK_ID = re.compile(r"^transcription_platform\.[EW]\d{3}$")
#: Dotted names in the docs that name something else than a Python object.
NOT_PYTHON = {
    "transcription_platform.heartbeat",  # a django-q2 schedule (operations.md)
}


def documented_names() -> dict[str, str]:
    """Dotted name → the first doc page that mentions it."""
    found: dict[str, str] = {}
    for doc in DOCS:
        if doc == REFERENCE:
            continue
        text = doc.read_text()
        for match in FROM_IMPORT.finditer(text):
            names = match.group("group") or match.group("line")
            # "import a, b; print(a())" in a shell one-liner ends at the ";".
            for name in re.split(r"[,\s]+", names.split(";")[0]):
                name = name.strip()
                if name and name != "as" and name.isidentifier():
                    found.setdefault(f"{match.group('module')}.{name}", doc.name)
        for match in DOTTED.finditer(text):
            name = match.group(0)
            if not CHECK_ID.match(name) and name not in NOT_PYTHON:
                found.setdefault(name, doc.name)
    return found


def resolve(dotted: str) -> Any:
    """Import the longest module prefix of ``dotted``, then walk attributes."""
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ImportError(dotted)


def reference_blocks() -> dict[str, list[str] | None]:
    """``::: path`` of the reference page → its ``members`` list (None: all members)."""
    blocks: dict[str, list[str] | None] = {}
    current = None
    in_members = False
    for line in REFERENCE.read_text().splitlines():
        if line.startswith("::: "):
            current = line[4:].strip()
            blocks[current] = None
            in_members = False
        elif current and line.strip() == "members:":
            blocks[current] = []
            in_members = True
        elif current and in_members and line.strip().startswith("- "):
            blocks[current].append(line.strip()[2:].strip())  # type: ignore[union-attr]
        elif line.strip() and not line.startswith(" "):
            current, in_members = None, False
    return blocks


def is_documented(dotted: str, obj: Any, blocks: dict[str, list[str] | None]) -> bool:
    if dotted in blocks:
        return True
    owner = obj.__name__ if isinstance(obj, ModuleType) else getattr(obj, "__module__", None)
    candidates = {dotted.rsplit(".", 1)[0]}
    if owner:
        candidates.add(owner)
    name = dotted.rsplit(".", 1)[1]
    for module in candidates:
        if module in blocks:
            members = blocks[module]
            if members is None or name in members:
                return True
        if owner and f"{owner}.{name}" in blocks:
            return True
    return False


NAMES = documented_names()


def test_the_collector_finds_what_the_brief_names():
    for name in (
        "transcription_platform.auth.platform_auth",
        "transcription_platform.roles.require_role",
        "transcription_platform.ratelimit.rate_limit",
        "transcription_platform.crypto.generate_key",
        "transcription_platform.health.checks.database",
    ):
        assert name in NAMES


@pytest.mark.parametrize("dotted", sorted(NAMES))
def test_every_documented_name_resolves(dotted):
    try:
        resolve(dotted)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{NAMES[dotted]} mentions {dotted}, which does not exist: {exc}")


def _needs_reference(obj: Any) -> bool:
    """Objects and modules users import; app packages and URLconfs are only named
    (in ``INSTALLED_APPS``, ``include()``), never imported from."""
    if not isinstance(obj, ModuleType):
        return True
    from django.apps import apps

    app_packages = {config.name for config in apps.get_app_configs()}
    return obj.__name__ not in app_packages and not obj.__name__.endswith((".urls", ".apps"))


def test_the_reference_page_documents_every_documented_name():
    blocks = reference_blocks()
    missing = []
    for dotted, page in sorted(NAMES.items()):
        try:
            obj = resolve(dotted)
        except (ImportError, AttributeError):
            continue  # reported by the test above
        if _needs_reference(obj) and not is_documented(dotted, obj, blocks):
            missing.append(f"{dotted} (from {page})")
    assert not missing, "docs/reference.md does not document:\n" + "\n".join(missing)


def test_the_models_are_in_the_reference():
    from django.apps import apps

    blocks = reference_blocks()
    missing = [
        f"{model.__module__}.{model.__name__}"
        for model in apps.get_models()
        if model.__module__.startswith("transcription_platform.")
        and not is_documented(f"{model.__module__}.{model.__name__}", model, blocks)
    ]
    assert not missing, missing


def test_reference_blocks_name_real_objects():
    for path, members in reference_blocks().items():
        module = resolve(path)
        for member in members or ():
            assert hasattr(module, member), f"{path}: no {member}"
