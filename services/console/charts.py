"""Charts drawn on the server as SVG (no chart library, no script): the dashboard's new and closed
cases per week. Pure: numbers and words in, markup out; the page also gives the same numbers as a
table, so nothing is said by the picture alone."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, MARGIN, LABELS = 640, 240, 28, 48
OPENED, CLOSED = "#b3261e", "#0b57d0"


def weekly_bars(
    weeks: Sequence[tuple[str, int, int]], *, title: str, opened_label: str, closed_label: str
) -> str:
    """Side-by-side bars of (week label, opened, closed), with a legend; an accessible image."""
    top = max([1, *(max(o, c) for _, o, c in weeks)])
    slot = (WIDTH - 2 * MARGIN) / max(len(weeks), 1)
    bar = slot * 0.35
    plot = HEIGHT - MARGIN - LABELS
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title" class="chart"><title id="chart-title">{escape(title)}</title>'
    ]
    for i, (label, opened, closed) in enumerate(weeks):
        x = MARGIN + i * slot + slot * 0.1
        for offset, value, colour in ((0, opened, OPENED), (bar, closed, CLOSED)):
            height = plot * value / top
            y = MARGIN + plot - height
            parts.append(
                f'<rect x="{x + offset:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{colour}"/>'
            )
            parts.append(
                f'<text x="{x + offset + bar / 2:.1f}" y="{y - 3:.1f}" font-size="11" '
                f'text-anchor="middle">{value}</text>'
            )
        parts.append(
            f'<text x="{x + bar:.1f}" y="{HEIGHT - LABELS + 16}" font-size="11" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    legend_y = HEIGHT - 6
    parts.append(
        f'<rect x="{MARGIN}" y="{legend_y - 10}" width="12" height="12" fill="{OPENED}"/>'
        f'<text x="{MARGIN + 16}" y="{legend_y}" font-size="12">{escape(opened_label)}</text>'
        f'<rect x="{MARGIN + 160}" y="{legend_y - 10}" width="12" height="12" fill="{CLOSED}"/>'
        f'<text x="{MARGIN + 176}" y="{legend_y}" font-size="12">{escape(closed_label)}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
