"""A bulletin's files (services/console/bulletins.py): the XLSX read back says what it counted and
differs from its figures in nothing, a cell changed by hand is named by its sheet, row and column in
the reader's words, a file that is no bulletin is refused in one line, and the PDF is a PDF with the
title on its first page."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pypdfium2
import pytest
from openpyxl import load_workbook

from services.audit.bulletins import Bulletin, Heads
from services.audit.indicators import Happening, Kind, Period, figures
from services.console.bulletins import differences, pdf, read_workbook, sheet_title, workbook
from services.console.i18n import languages
from shared.territory.registry import load_territory

COUNTY = "140402000000"
TOWNSHIPS = ("140402001000", "140402002000")
MONTH = Period(2026, 11)


@pytest.fixture(scope="module")
def words():
    return languages(load_territory())


def _bulletin() -> Bulletin:
    at = datetime(2026, 11, 10, 4, 0, tzinfo=UTC)
    made = []
    for n in range(7):
        case = uuid.uuid4()
        made.append(
            Happening(f"e{n}", case, Kind.reported, at, jurisdiction="140402001001", code="hotline", age=9)
        )
        made.append(Happening(f"g{n}", case, Kind.graded, at + timedelta(hours=n), code="red"))
    found = figures(made, COUNTY, TOWNSHIPS, MONTH, MONTH.end)
    return Bulletin(found, Heads({"case.reported/0": (7, "ab" * 32)}), MONTH.end)


def test_the_workbook_read_back_is_its_figures_and_a_hand_made_change_is_named(tmp_path: Path, words) -> None:
    lang, made = words["zh_CN"], _bulletin()
    path = tmp_path / "bulletin.xlsx"
    path.write_bytes(workbook(lang, made))
    read = read_workbook(path)
    assert (read.node, read.period, read.heads, read.locale) == (COUNTY, MONTH, made.heads, "zh_CN")
    assert differences(lang, made.figures, read) == []

    book = load_workbook(path)
    sheet = book[sheet_title(lang.gettext("bulletin:table:reports_by_channel"))]
    assert sheet.cell(2, 1).value == "热线" and sheet.cell(2, 2).value == 7
    sheet.cell(2, 2).value = 8
    book.save(path)
    (found,) = differences(lang, made.figures, read_workbook(path))
    assert found == "报告来源 / 热线 / 东街街道: the file says 8, the ledger 7"


def test_a_file_that_is_no_bulletin_is_refused_in_one_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.xlsx"
    text.write_text("not a workbook")
    with pytest.raises(ValueError, match=r"^notes.xlsx: not a bulletin's XLSX \(\w+\)$"):
        read_workbook(text)
    other = tmp_path / "other.xlsx"
    from openpyxl import Workbook

    Workbook().save(other)
    with pytest.raises(ValueError, match="no 'About' sheet: not a bulletin"):
        read_workbook(other)


def test_a_sheet_is_named_without_the_characters_a_sheet_name_may_not_hold() -> None:
    assert sheet_title("Departments: referrals [answered]/why?") == "Departments  referrals  answere"
    assert len(sheet_title("x" * 40)) == 31


def test_the_pdf_carries_its_title_and_page_numbers_in_either_language(words) -> None:
    made = _bulletin()
    for locale, heading, page in (
        ("zh_CN", "长治市城区未成年人保护工作定期通报", "第 1 页"),
        ("en", "Periodic bulletin on child protection: Chengqu District, Changzhi", "page 1 of"),
    ):
        document = pypdfium2.PdfDocument(io.BytesIO(pdf(words[locale], made)))
        first = document[0].get_textpage().get_text_range()
        assert heading in first and page in first, first[:200]


def test_a_deployments_own_territory_file_names_the_nodes_a_bulletin_is_made_for(
    tmp_path, monkeypatch
) -> None:
    from cpnet.bulletin import _node
    from services.audit.bulletin_api import territory
    from shared.settings import get_settings

    default = Path(__file__).parents[2] / "config" / "territory.yaml"
    added = '  - {code: "140402003000", zh-CN: 新建街道, en: Xinjian Subdistrict}\n'
    own = tmp_path / "territory.yaml"
    own.write_text(default.read_text(encoding="utf-8") + added, encoding="utf-8")
    monkeypatch.setenv("CPNET_TERRITORY_FILE", str(own))
    get_settings.cache_clear()
    try:
        assert _node("140402") == ("140402000000", (*TOWNSHIPS, "140402003000"))
        assert "140402003000" in territory(get_settings().territory_file)
        assert "140402003000" not in territory(None)
    finally:
        get_settings.cache_clear()
