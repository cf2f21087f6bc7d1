"""Lists taken away (issue 24): a table as CSV and XLSX with no cell a spreadsheet would run as a formula,
the lists' columns in the person's language, and the children's details sealed in a 7z archive that
neither opens nor names its files without the password."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import py7zr
import pytest
from openpyxl import load_workbook

from services.console.exports import (
    EXPORT_PURPOSES,
    About,
    about_table,
    board_table,
    children_table,
    escalated_services_table,
    inbox_table,
    password_problem,
    sealed_archive,
)
from services.console.history import Someone, entry_in_words
from services.console.i18n import languages
from services.console.spreadsheets import Table, table_csv, tables_xlsx
from shared.contracts.vocabulary import AccessPurpose
from shared.territory.registry import load_territory

LANGUAGES = languages(load_territory())
FORMULAS = ['=HYPERLINK("http://example.invalid","click")', "+1", "-1+2", "@SUM(A1)", "\t=1", "\r=1"]
ORDINARY = ["王小红", "a - b", "1+1 is two", 42, -3, 1.5]
TABLE = Table("Cases", ["=header", "Plain"], [[*FORMULAS, *ORDINARY]])


def _csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode()), "a byte order mark: Excel reads the Chinese as UTF-8"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def test_no_csv_cell_is_a_formula_and_ordinary_cells_stay_as_they_are() -> None:
    header, row = _csv_rows(table_csv(TABLE))
    assert header == ["'=header", "Plain"]
    assert row[: len(FORMULAS)] == ["'" + cell for cell in FORMULAS], "shown as typed, never run"
    assert row[len(FORMULAS) :] == [str(cell) for cell in ORDINARY]


def test_no_xlsx_cell_is_a_formula_and_ordinary_cells_stay_as_they_are() -> None:
    sheet = load_workbook(io.BytesIO(tables_xlsx([TABLE]))).active
    header, row = list(sheet.iter_rows(min_row=1, max_row=2))
    assert [cell.data_type for cell in (*header[:2], *row)] == ["s"] * (2 + len(FORMULAS) + 3) + ["n"] * 3
    # (XML keeps a carriage return as a line feed: the cell is still text, as typed.)
    assert [cell.value for cell in row[: len(FORMULAS)]] == [
        "'" + cell.replace("\r", "\n") for cell in FORMULAS
    ]
    assert [cell.value for cell in row[len(FORMULAS) :]] == ORDINARY
    assert header[0].value == "'=header" and sheet.title == "Cases"


CASE = {
    "case_id": "6f1c1f0e-0000-4000-8000-000000000001",
    "case_number": "140402-2026-00017",
    "risk_level": "red",
    "emergency": True,
    "jurisdiction": "140402001001",
    "categories": ["abuse"],
    "stage": "assessed",
    "owner": {"caseworker": "cw-1"},
    "next_due_kind": "home_visit",
    "next_due_at": "2026-12-07T02:00:00+00:00",
    "overdue": True,
}
WORDS = {
    "zh_CN": ("个案编号", "红色（高风险）", "是", "遭受侵害"),
    "en": ("Case number", "Red (high risk)", "Yes", "Violence or abuse"),
}


@pytest.mark.parametrize("locale", sorted(WORDS))
def test_the_boards_export_says_its_columns_and_codes_in_the_persons_language(locale: str) -> None:
    number, red, yes, abuse = WORDS[locale]
    lang = LANGUAGES[locale]
    table = board_table(lang, [CASE], {"cw-1": "=cmd|' /C calc'!A0"})
    (row,) = table.rows
    assert table.header[0] == number and not any(h.startswith("export:") for h in table.header)
    assert row[:3] == ["140402-2026-00017", red, yes] and row[4] == lang.labels("category", ["abuse"])
    assert abuse in row[4] and row[3] == lang.place("140402001001")
    (written,) = list(load_workbook(io.BytesIO(tables_xlsx([table]))).active.iter_rows(min_row=2))
    assert written[6].value == "'=cmd|' /C calc'!A0" and written[6].data_type == "s", "a username too"
    assert "headline" not in str(table) and "sex" not in str(table), "no personal data on a list's export"


@pytest.mark.parametrize("locale", sorted(WORDS))
def test_the_inbox_export_says_what_is_asked_in_words(locale: str) -> None:
    lang = LANGUAGES[locale]
    referral = {**CASE, "needs": ["legal"], "ack_due_at": CASE["next_due_at"], "state": "sent"}
    table = inbox_table(lang, [referral])
    assert table.rows[0][4] == lang.label("need", "legal") and table.rows[0][7] == lang.label(
        "referral_state", "sent"
    )
    assert not any(h.startswith("export:") for h in table.header)


EXPORT = {
    "purpose": "legal_proceedings",
    "shown": ["name", "national_id", "sex", "birth_date"],
    "children": [
        {
            "case_id": CASE["case_id"],
            "case_number": CASE["case_number"],
            "jurisdiction": "140402001001",
            "identity": {
                "name": "王小红",
                "national_id": "140402201605010021",
                "sex": "F",
                "birth_date": None,
            },
        },
        {
            "case_id": CASE["case_id"],
            "case_number": "140402-2026-00018",
            "jurisdiction": "140402001001",
            "identity": {"name": "=1+1", "national_id": None, "sex": "M", "birth_date": "2015-03-02"},
        },
    ],
    "left_out": 2,
}


def _archive(password: str = "a long passphrase") -> bytes:
    lang = LANGUAGES["en"]
    about = About(
        made_by="sup-1", made_at=datetime.now(UTC), rows=2, found=4, purpose="legal_proceedings", left_out=2
    )
    book = tables_xlsx([children_table(lang, EXPORT), about_table(lang, about)])
    return sealed_archive([("children-20261206-1730.xlsx", book)], password)


def test_the_archive_cannot_be_listed_nor_opened_without_its_password() -> None:
    sealed = _archive()
    with pytest.raises(py7zr.exceptions.PasswordRequired):
        with py7zr.SevenZipFile(io.BytesIO(sealed)) as archive:
            archive.getnames()
    with pytest.raises(Exception):  # noqa: B017 - py7zr says a wrong key in more than one way
        with py7zr.SevenZipFile(io.BytesIO(sealed), password="not the password") as archive:
            archive.getnames()
    for text in ("children", "王小红", "140402201605010021", "legal"):
        for encoding in ("utf-8", "utf-16-le"):
            assert text.encode(encoding) not in sealed, "file names and contents are encrypted"


def test_with_its_password_the_archive_holds_the_childrens_details_and_what_was_left_out(tmp_path) -> None:
    with py7zr.SevenZipFile(io.BytesIO(_archive()), password="a long passphrase") as archive:
        assert archive.getnames() == ["children-20261206-1730.xlsx"]
        archive.extractall(path=tmp_path)
    book = load_workbook(tmp_path / "children-20261206-1730.xlsx")
    children, about = book.worksheets
    rows = [[cell.value for cell in row] for row in children.iter_rows()]
    assert rows[0] == ["Case number", "Village", "Name", "National ID number", "Sex", "Date of birth"]
    assert rows[1][2:] == ["王小红", "140402201605010021", LANGUAGES["en"].label("sex", "F"), None]
    assert rows[2][2] == "'=1+1", "a name a spreadsheet would run is kept as text"
    facts = {row[0].value: row[1].value for row in about.iter_rows(min_row=2)}
    assert facts["Purpose"] == LANGUAGES["en"].label("purpose", "legal_proceedings")
    assert facts["Cases left out: not yours to read"] == 2 and facts["Made by"] == "sup-1"


def test_the_password_is_long_and_typed_twice_the_same() -> None:
    assert password_problem("short", "short") == "password_short"
    assert password_problem("a long passphrase", "a long passphrasE") == "password_differs"
    assert password_problem("a long passphrase", "a long passphrase") is None


def test_a_list_is_not_a_purpose_to_export_for() -> None:
    assert (
        AccessPurpose.worklist not in EXPORT_PURPOSES and AccessPurpose.legal_proceedings in EXPORT_PURPOSES
    )


def test_a_cut_export_says_so() -> None:
    lang = LANGUAGES["en"]
    about = about_table(lang, About(made_by="cw-1", made_at=datetime.now(UTC), rows=5000, found=6200))
    assert ["Cut short", "The filters select 6200; only the first 5000 are in this file."] in about.rows


@pytest.mark.parametrize("locale", sorted(WORDS))
def test_the_escalated_services_export_says_its_columns_in_the_persons_language(locale: str) -> None:
    lang = LANGUAGES[locale]
    service = {
        **CASE,
        "kind": "counselling",
        "provider_name": "@向日葵社工",
        "provider_kind": "social_work_organisation",
        "due_on": "2026-11-20",
        "units_delivered": 1,
        "units_planned": 4,
        "state": "planned",
        "escalations": 2,
        "holder": "140402",
    }
    table = escalated_services_table(lang, [service])
    assert not any(h.startswith("export:") for h in (table.title, *table.header))
    (row,) = table.rows
    assert row[3] == lang.label("service_kind", "counselling") and row[7:9] == [1, 4]
    assert table_csv(table).decode("utf-8-sig").splitlines()[1].split(",")[4] == "'@向日葵社工"


@pytest.mark.parametrize(("locale", "exported"), [("zh_CN", "导出"), ("en", "Exported")])
def test_the_access_log_shows_an_export_with_its_purpose(locale: str, exported: str) -> None:
    """The access ledger's page ("Who read children's data") says a child's details were exported, and why."""
    lang = LANGUAGES[locale]
    entry = {
        "accessor_ref": "u-sup",
        "accessor_role": "supervisor",
        "action": "export",
        "record": "child_details",
        "fields": ["name", "national_id"],
        "purpose": "legal_proceedings",
        "outcome": "shown",
        "accessed_at": "2026-12-06T09:30:00+00:00",
    }
    words = entry_in_words(lang, entry, {"u-sup": Someone("li.supervisor", "supervisor")})
    assert words.who == "li.supervisor" and words.what.startswith(exported)
    assert lang.label("purpose", "legal_proceedings") in words.what
    assert lang.label("personal", "national_id") in words.what
