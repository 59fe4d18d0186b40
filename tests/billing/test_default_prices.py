"""The default PRICES and the table docs/billing.md shows of them are the same figures."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from transcription_platform.conf import SETTINGS

DOC = Path(__file__).resolve().parents[2] / "docs" / "billing.md"
ROW = re.compile(r"^\| `(?P<model>[^`]+)`(?: \([a-z]+\))? \| (?P<date>\d{4}-\d{2}-\d{2}) \|(.*)\|$")


def documented() -> dict[str, dict[str, str]]:
    table = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if not match:
            continue
        minute, tokens_in, tokens_out = (c.strip() for c in match.group(3).split("|"))
        entry = {"effective_from": match.group("date")}
        for key, cell in (
            ("per_audio_minute", minute),
            ("per_1k_input_tokens", tokens_in),
            ("per_1k_output_tokens", tokens_out),
        ):
            if cell != "—":
                entry[key] = cell.split()[0]
        table[match.group("model")] = entry
    return table


def test_the_documented_defaults_are_the_shipped_defaults():
    shipped = {
        model: {
            key: value if key == "effective_from" else str(Decimal(value))
            for key, value in entries[0].items()
        }
        for model, entries in SETTINGS["PRICES"].default.items()
    }
    assert all(len(entries) == 1 for entries in SETTINGS["PRICES"].default.values())
    assert documented() == shipped
