"""The stylesheet's colour pairs meet WCAG AA contrast (4.5:1 for text) in both schemes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = (
    Path(__file__).resolve().parents[2]
    / "src/transcription_platform/web/static/transcription_platform/web/web.css"
).read_text()

#: (foreground, background) variables used together for text.
TEXT_PAIRS = [
    ("text", "bg"),
    ("text", "surface"),
    ("muted", "bg"),
    ("muted", "surface"),
    ("accent", "surface"),
    ("accent", "bg"),
    ("accent-text", "accent"),
    ("danger", "surface"),
    ("ok", "surface"),
    ("text", "current"),
    ("muted", "current"),
    ("text", "accent-soft"),
    ("accent", "accent-soft"),
]


def scheme(block: str) -> dict[str, str]:
    return dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", block))


LIGHT = scheme(CSS[CSS.index(":root {") : CSS.index("}", CSS.index(":root {"))])
DARK_START = CSS.index(":root {", CSS.index("prefers-color-scheme: dark"))
DARK = {**LIGHT, **scheme(CSS[DARK_START : CSS.index("}", DARK_START)])}


def luminance(colour: str) -> float:
    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_formula_matches_wcag_reference_values():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("name", ["light", "dark"])
@pytest.mark.parametrize(("foreground", "background"), TEXT_PAIRS)
def test_text_contrast_is_at_least_aa(name, foreground, background):
    colours = LIGHT if name == "light" else DARK
    ratio = contrast(colours[foreground], colours[background])
    assert ratio >= 4.5, f"{name}: --{foreground} on --{background} is {ratio:.2f}:1"


@pytest.mark.parametrize("colours", [LIGHT, DARK], ids=["light", "dark"])
def test_the_focus_ring_stands_out_from_its_surroundings(colours):
    # WCAG 1.4.11: 3:1 for the parts of a control that show its state.
    assert contrast(colours["focus"], colours["surface"]) >= 3
    assert contrast(colours["focus"], colours["bg"]) >= 3
