"""The scorecard a county's civil affairs bureau downloads (XLSX): the provider page's figures, in the
person's language, and no text a spreadsheet would run as a formula."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from services.console.i18n import languages
from services.console.spreadsheets import as_text, scorecard_workbook
from shared.territory.registry import load_territory

LANGUAGES = languages(load_territory())
PROVIDER = {"name": '=HYPERLINK("http://example.invalid","向日葵社工")'}
CONTRACT = {
    "reference": "SD-2026-017",
    "territory": "140404",
    "starts_on": "2026-01-01",
    "ends_on": "2026-12-31",
    "budget": "80000.00",
}
CARD = {
    "units": [{"kind": "counselling", "purchased": 20, "delivered": 3}],
    "services_due": 1,
    "delivered_on_time": 1,
    "on_time_share": 1.0,
    "outcomes": {"need_met": 1, "need_partly_met": 0, "need_not_met": 0},
    "not_delivered": 0,
    "feedback_count": 1,
    "mean_satisfaction": 4.0,
}


def _rows(locale: str) -> list[tuple]:
    book = load_workbook(io.BytesIO(scorecard_workbook(LANGUAGES[locale], PROVIDER, CONTRACT, CARD)))
    return [tuple(cell.value for cell in row) for row in book.active.iter_rows()]


WORDS = {
    "zh_CN": ("心理辅导", "上党区", "按期完成率（%）", "平均满意度（1–5分）"),
    "en": ("Psychological counselling", "Shangdang District", "Share on time (%)", "Mean satisfaction (1–5)"),
}


@pytest.mark.parametrize("locale", sorted(WORDS))
def test_the_scorecard_opens_with_the_pages_figures_in_the_persons_language(locale: str) -> None:
    counselling, county, on_time, satisfaction = WORDS[locale]
    rows = _rows(locale)
    assert (counselling, 20, 3) in rows, "units delivered against purchased"
    assert (on_time, 100, None) in rows and (satisfaction, 4, None) in rows
    assert any(row[1] == county for row in rows), "the territory by its name"


def test_no_cell_is_a_formula() -> None:
    rows = _rows("en")
    name = next(row[1] for row in rows if row[0] == "Provider")
    assert name == "'" + PROVIDER["name"], "shown as typed, never run"
    book = load_workbook(io.BytesIO(scorecard_workbook(LANGUAGES["en"], PROVIDER, CONTRACT, CARD)))
    assert all(cell.data_type != "f" for row in book.active.iter_rows() for cell in row)
    assert [as_text(v) for v in ("+1", "-2", "@x", "plain", 3)] == ["'+1", "'-2", "'@x", "plain", 3]
