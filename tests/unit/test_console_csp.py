"""The console's pages give its Content-Security-Policy (services/console/headers.py) nothing to
refuse: no inline script, style, event handler or javascript: address in any template, no chart
styled inline, and htmx configured to inject no style of its own, evaluate nothing and keep no copy
of a page in sessionStorage."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from services.console.charts import weekly_bars

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "console" / "templates"
# htmx's attributes whose value is script it would evaluate (refused by allowEval=false anyway).
EVALUATED = ("hx-on", "data-hx-on", "hx-vars", "data-hx-vars")


class _Inline(HTMLParser):
    """What a strict CSP would refuse in a page's markup, one line each."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        where = f"line {self.getpos()[0]}: <{tag}>"
        named = dict(attrs)
        if tag == "style" or (tag == "script" and "src" not in named):
            self.refused.append(f"{where} inline")
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name == "style" or name.startswith("on") or name.startswith(EVALUATED):
                self.refused.append(f"{where} {name}=")
            if value.startswith("javascript:") or (name.endswith("hx-vals") and value.startswith("js:")):
                self.refused.append(f"{where} {name}={value}")
            if name.endswith("hx-trigger") and "[" in value:
                self.refused.append(f"{where} an evaluated event filter")


def _markup(template: Path) -> str:
    """A template as the browser could get it: without its Jinja comments, which are never sent."""
    return re.sub(r"\{#.*?#\}", "", template.read_text(encoding="utf-8"), flags=re.DOTALL)


def _refused(markup: str) -> list[str]:
    parser = _Inline()
    parser.feed(markup)
    return parser.refused


@pytest.mark.parametrize("template", sorted(TEMPLATES.glob("*.html")), ids=lambda path: path.name)
def test_no_template_holds_what_the_csp_refuses(template: Path) -> None:
    assert _refused(_markup(template)) == []


def test_the_check_sees_each_kind_of_inline_code() -> None:
    markup = (
        '<script>alert(1)</script><style>p {}</style><p style="color: red" onclick="go()">'
        '<a href="javascript:go()">x</a><div hx-on:click="go()" hx-vals=\'js:{a: go()}\'></div>'
        '<div hx-trigger="click[ctrlKey]"></div><script src="/static/console.js"></script>'
    )
    assert len(_refused(markup)) == 8


def test_the_charts_are_drawn_without_inline_style() -> None:
    chart = weekly_bars(
        [("W1", 3, 1), ("W2", 0, 2)], title="Cases", opened_label="new", closed_label="closed"
    )
    assert "style" not in chart and _refused(chart) == []


def test_htmx_injects_no_style_evaluates_nothing_and_keeps_no_history() -> None:
    class _Config(HTMLParser):
        found: dict | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            named = dict(attrs)
            if tag == "meta" and named.get("name") == "htmx-config":
                self.found = json.loads(named["content"] or "")

    parser = _Config()
    parser.feed(_markup(TEMPLATES / "base.html"))
    assert parser.found is not None, 'base.html configures htmx in a <meta name="htmx-config">'
    assert parser.found["includeIndicatorStyles"] is False, "htmx's own <style> is inline"
    assert parser.found["allowEval"] is False and parser.found["allowScriptTags"] is False
    assert parser.found["historyCacheSize"] == 0, "no page of case data in sessionStorage"
