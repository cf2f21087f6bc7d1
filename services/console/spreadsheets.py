"""Spreadsheets the console hands out (XLSX, openpyxl), in the person's language: a contract's scorecard for
the county's civil affairs bureau to file and compare (监管评估). Counts only — no child is named — and
every text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is kept as text."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from services.console.i18n import Language

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def as_text(value: Any) -> Any:
    """A cell's value: numbers as numbers, and text a spreadsheet could take for a formula quoted by a
    leading apostrophe (shown as typed, never run)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


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
