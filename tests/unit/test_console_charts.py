"""The dashboard's chart is an accessible SVG drawn on the server: a title, one bar per week and
kind with its number written on it, and the legend's words; the tallest bar fills the plot."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from services.console.charts import weekly_bars


def test_the_weekly_chart_is_an_accessible_svg_with_every_number_written() -> None:
    svg = weekly_bars(
        [("11月23日", 3, 1), ("11月30日", 7, 0)],
        title="每周新增和结案数",
        opened_label="新增",
        closed_label="结案",
    )
    root = ET.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "chart-title"
    texts = [element.text for element in root.iter() if element.tag.endswith("text")]
    assert {"3", "1", "7", "0", "11月23日", "11月30日", "新增", "结案"} <= set(texts)
    bars = [
        float(rect.get("height"))
        for rect in root.iter()
        if rect.tag.endswith("rect") and rect.get("height") not in ("12",)
    ]
    assert max(bars) == max(float(h) for h in re.findall(r'height="([0-9.]+)"', svg)) and 0.0 in bars


def test_words_are_escaped() -> None:
    svg = weekly_bars([("<b>", 1, 1)], title="a & b", opened_label="<", closed_label=">")
    assert "<b>" not in svg and "a &amp; b" in svg
