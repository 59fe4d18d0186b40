"""docs/settings.md documents every key of ``conf.SETTINGS`` with its type, and no other."""

from __future__ import annotations

import re
from pathlib import Path

from transcription_platform.conf import SETTINGS, Setting

DOC = Path(__file__).resolve().parent.parent / "docs" / "settings.md"
ROW = re.compile(r"^\|\s*`(?P<key>[A-Z][A-Z0-9_]*)`\s*\|\s*(?P<type>[^|]+?)\s*\|", re.MULTILINE)


def documented_rows() -> dict[str, str]:
    """Key → type column of the "All keys" table."""
    section = DOC.read_text().split("## All keys", 1)[1].split("\n## ", 1)[0]
    return {match["key"]: match["type"] for match in ROW.finditer(section)}


def type_label(spec: Setting) -> str:
    types = spec.types if isinstance(spec.types, tuple) else (spec.types,)
    label = " or ".join(t.__name__ for t in types)
    return f"{label} or None" if spec.nullable else label


def test_every_setting_is_documented() -> None:
    missing = sorted(set(SETTINGS) - set(documented_rows()))
    assert not missing, f"add these keys to the table in docs/settings.md: {missing}"


def test_no_documented_setting_is_unknown() -> None:
    stale = sorted(set(documented_rows()) - set(SETTINGS))
    assert not stale, f"docs/settings.md documents keys conf.SETTINGS does not have: {stale}"


def test_documented_types_match() -> None:
    rows = documented_rows()
    wrong = {
        key: (rows[key], type_label(spec))
        for key, spec in SETTINGS.items()
        if key in rows and rows[key] != type_label(spec)
    }
    assert not wrong, f"type column (documented, actual) out of date: {wrong}"
