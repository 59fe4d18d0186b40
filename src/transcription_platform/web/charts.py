"""Charts drawn on the server as SVG: nothing to download, nothing to execute.

Every chart is an ``<svg role="img">`` with a ``<title>``; the pages put the same
figures in a table beside it for screen readers and for copying.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 28


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``value`` (an axis maximum)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)  # pragma: no cover  (the loop always returns)


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")


def time_series(
    days: Sequence[date], values: Sequence[float], *, title: str, kind: str = "bar"
) -> SafeString:
    """One value per day as bars (``kind="bar"``) or a line (``kind="line"``).

    Args:
        days: The x axis, one date per value, oldest first.
        values: The y values (non-negative).
        title: What the chart shows, with its unit (read by screen readers).
        kind: ``"bar"`` or ``"line"``.

    Returns:
        The ``<svg>`` markup, safe to insert into a template.
    """
    top = nice_ceiling(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(days), 1)

    def y(value: float) -> float:
        return TOP + plot_h - value / top * plot_h

    grid = format_html_join(
        "",
        '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="tick" x="{}" y="{}" text-anchor="end">{}</text>',
        (
            (LEFT, WIDTH - RIGHT, f"{y(top * i / 4):.1f}", f"{y(top * i / 4):.1f}", LEFT - 6,
             f"{y(top * i / 4) + 4:.1f}", _number(top * i / 4))
            for i in range(5)
        ),
    )  # fmt: skip
    every = max(1, math.ceil(len(days) / 6))
    labels = format_html_join(
        "",
        '<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>',
        (
            (f"{LEFT + step * (i + 0.5):.1f}", HEIGHT - 8, day.strftime("%d %b"))
            for i, day in enumerate(days)
            if i % every == 0
        ),
    )
    if kind == "line":
        points = " ".join(f"{LEFT + step * (i + 0.5):.1f},{y(v):.1f}" for i, v in enumerate(values))
        marks = format_html(
            '<polyline class="series line" points="{}" fill="none"/>', points
        ) + format_html_join(
            "",
            '<circle class="series dot" cx="{}" cy="{}" r="2.5"><title>{}: {}</title></circle>',
            (
                (f"{LEFT + step * (i + 0.5):.1f}", f"{y(v):.1f}", days[i].isoformat(), _number(v))
                for i, v in enumerate(values)
            ),
        )
    else:
        width = max(step * 0.7, 1)
        marks = format_html_join(
            "",
            '<rect class="series bar" x="{}" y="{}" width="{}" height="{}">'
            "<title>{}: {}</title></rect>",
            (
                (f"{LEFT + step * i + (step - width) / 2:.1f}", f"{y(v):.1f}", f"{width:.1f}",
                 f"{plot_h - (y(v) - TOP):.1f}", days[i].isoformat(), _number(v))
                for i, v in enumerate(values)
            ),
        )  # fmt: skip
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title>{}{}{}</svg>",
        WIDTH, HEIGHT, title, title, grid, marks, labels,
    )  # fmt: skip


def horizontal_bars(rows: Sequence[tuple[str, float]], *, title: str) -> SafeString:
    """Labelled horizontal bars, longest = 100 % (a funnel).

    Args:
        rows: ``(label, value)`` pairs, drawn top to bottom.
        title: What the chart shows (read by screen readers).

    Returns:
        The ``<svg>`` markup, safe to insert into a template.
    """
    bar_h, gap, label_w = 26, 8, 170
    height = max(len(rows), 1) * (bar_h + gap)
    top = max((value for _, value in rows), default=0) or 1
    plot_w = WIDTH - label_w - 70
    bars = format_html_join(
        "",
        '<text class="label" x="{}" y="{}" text-anchor="end">{}</text>'
        '<rect class="series bar" x="{}" y="{}" width="{}" height="{}"/>'
        '<text class="value" x="{}" y="{}">{}</text>',
        (
            (label_w - 8, i * (bar_h + gap) + bar_h * 0.7, label,
             label_w, i * (bar_h + gap), f"{max(value / top * plot_w, 1):.1f}", bar_h,
             label_w + value / top * plot_w + 6, i * (bar_h + gap) + bar_h * 0.7, _number(value))
            for i, (label, value) in enumerate(rows)
        ),
    )  # fmt: skip
    return format_html(
        '<svg class="chart bars" viewBox="0 0 {} {}" role="img" aria-label="{}">'
        "<title>{}</title>{}</svg>",
        WIDTH, height, title, title, bars if rows else mark_safe(""),
    )  # fmt: skip
