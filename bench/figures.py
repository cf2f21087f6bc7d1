"""How the benchmarks report what they measured: percentiles, a rich table, a JSON file."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def percentiles(samples: list[float]) -> dict[str, float | None]:
    """p50, p95, p99 and the largest of the samples (None when there are none)."""
    if not samples:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    if len(samples) == 1:
        only = samples[0]
        return {"count": 1, "p50": only, "p95": only, "p99": only, "max": only}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"count": len(samples), "p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": max(samples)}


def _shown(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}{unit}" if abs(value) < 10 else f"{value:,.1f}{unit}"
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def print_table(title: str, rows: list[tuple[str, Any, str]], *, console: Console | None = None) -> None:
    """One table of (figure, value, unit) rows; a row whose value is "" is a section heading."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for label, value, unit in rows:
        if value == "":
            table.add_row(f"[bold]{label}[/bold]", "")
        else:
            table.add_row(label, _shown(value, unit))
    (console or Console()).print(table)


def latency_rows(label: str, figures: dict[str, float | None]) -> list[tuple[str, Any, str]]:
    """The table rows of one latency distribution, in seconds."""
    rows: list[tuple[str, Any, str]] = [(f"{label} (n)", figures["count"], "")]
    rows += [(f"{label} {p}", figures[p], " s") for p in ("p50", "p95", "p99", "max")]
    return rows


def write_json(path: Path | None, figures: dict[str, Any]) -> None:
    if path is not None:
        path.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")
