"""Spreadsheets the console hands out, in the person's language: any table as CSV or XLSX (a list's
export), and a contract's scorecard for the county's civil affairs bureau to file and compare (监管评估).
In both forms every text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, a tab or a
carriage return first) is kept as text, the same way."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from services.console.i18n import Language

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"
# Excel takes a CSV file for the machine's own code page unless it opens with a byte order mark.
BOM = "\ufeff"
SHEET_TITLE = 31  # the most characters a sheet's name may have


def as_text(value: Any) -> Any:
    """A cell's value: numbers as numbers, and text a spreadsheet could take for a formula quoted by a
    leading apostrophe (shown as typed, never run)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


@dataclass(frozen=True)
class Table:
    """A table to hand out: its title (an XLSX sheet's name), its header and its rows, already in the
    person's words (codes as words, numbers as numbers)."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]


def table_csv(table: Table) -> bytes:
    """The table as CSV: UTF-8 with a byte order mark, the header first, no cell a formula."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([as_text(v) for v in table.header])
    writer.writerows([["" if v is None else as_text(v) for v in row] for row in table.rows])
    return (BOM + out.getvalue()).encode("utf-8")


def tables_xlsx(tables: Sequence[Table]) -> bytes:
    """The tables as one workbook, a sheet each: the header bold and kept in view, no cell a formula."""
    book = Workbook()
    book.remove(book.active)
    bold = Font(bold=True)
    for table in tables:
        sheet = book.create_sheet(table.title[:SHEET_TITLE])
        sheet.append([as_text(v) for v in table.header])
        for cell in sheet[1]:
            cell.font = bold
        for row in table.rows:
            sheet.append([as_text(v) for v in row])
        sheet.freeze_panes = "A2"
        for column, name in zip(sheet.iter_cols(min_row=1, max_row=1), table.header, strict=False):
            sheet.column_dimensions[column[0].column_letter].width = max(12, min(40, len(str(name)) * 2))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def scorecard_workbook(
    lang: Language, provider: Mapping[str, Any], contract: Mapping[str, Any], card: Mapping[str, Any]
) -> bytes:
    """One sheet: the contract, its units delivered against purchased, then the share on time, the
    outcomes and the families' satisfaction — the figures of the provider's page."""
    _ = lang.gettext
    book = Workbook()
    sheet = book.active
    sheet.title = _("Scorecard")[:31]
    bold = Font(bold=True)

    def row(*values: Any, strong: bool = False) -> None:
        sheet.append([as_text(v) for v in values])
        if strong:
            for cell in sheet[sheet.max_row]:
                cell.font = bold

    row(_("Contract %(reference)s") % {"reference": contract["reference"]}, strong=True)
    row(_("Provider"), provider["name"])
    row(_("Period"), f"{lang.day(contract['starts_on'])} – {lang.day(contract['ends_on'])}")
    row(_("Territory"), lang.place(contract["territory"].ljust(12, "0")))
    row(_("Budget (yuan)"), float(contract["budget"]))
    row()
    row(_("Service"), _("Purchased"), _("Delivered"), strong=True)
    for units in card["units"]:
        row(lang.label("service_kind", units["kind"]), units["purchased"], units["delivered"])
    row()
    row(_("Services due"), card["services_due"])
    row(_("Delivered on time"), card["delivered_on_time"])
    if card["on_time_share"] is not None:
        row(_("Share on time (%)"), round(card["on_time_share"] * 100, 1))
    for outcome, count in card["outcomes"].items():
        row(lang.label("service_outcome", outcome), count)
    row(lang.label("service_state", "not_delivered"), card["not_delivered"])
    row(_("Feedback received"), card["feedback_count"])
    if card["mean_satisfaction"] is not None:
        row(_("Mean satisfaction (1–5)"), card["mean_satisfaction"])
    complaints = card.get("complaints") or {}
    for key, words in (
        ("received", _("Complaints received")),
        ("upheld", lang.label("complaint_finding", "upheld")),
        ("not_upheld", lang.label("complaint_finding", "not_upheld")),
        ("open", _("To be looked into")),
    ):
        if key in complaints:
            row(words, complaints[key])
    sheet.column_dimensions["A"].width = 32
    sheet.column_dimensions["B"].width = 24
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
