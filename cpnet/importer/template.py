"""`cpnet import template`: the XLSX a village clerk fills in — one sheet, a zh-CN and an English
header row, every choice a drop-down of "word code" entries (e.g. "外出务工 migrant_work")."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from cpnet.importer.columns import COLUMNS, WORDS, Column, entries

SHEET = "排查摸底 screening"
# The drop-downs' entries live on a hidden sheet: an inline list is limited to 255 characters,
# which the eighteen indicators' entries exceed.
VALUES_SHEET = "values"
FIRST_DATA_ROW = 3
LAST_ROW = 1_048_576  # a spreadsheet's last row: every row the clerk may fill has the drop-downs
TEXT = "@"  # the cell format that keeps an 18-digit ID number or a 12-digit code as typed


def write_template(out: Path) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = SHEET
    values = workbook.create_sheet(VALUES_SHEET)
    values.sheet_state = "hidden"
    ranges = _value_lists(values)
    bold, shaded = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for index, column in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        for row, header in ((1, column.zh), (2, column.en)):
            cell = sheet.cell(row=row, column=index, value=header)
            cell.font, cell.fill = bold, shaded
        sheet.column_dimensions[letter].width = max(14, len(column.en) + 2)
        if column.kind in ("text", "code"):
            sheet.column_dimensions[letter].number_format = TEXT
        elif column.kind == "date":
            sheet.column_dimensions[letter].number_format = "yyyy-mm-dd"
        validation = _validation(column, ranges)
        if validation is not None:
            sheet.add_data_validation(validation)
            validation.add(f"{letter}{FIRST_DATA_ROW}:{letter}{LAST_ROW}")
    sheet.freeze_panes = f"A{FIRST_DATA_ROW}"
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
    return out


def _value_lists(values) -> dict[type, str]:
    """One column of entries per kind of choice; the range each drop-down points at."""
    ranges = {}
    for index, choices in enumerate(WORDS, start=1):
        letter = get_column_letter(index)
        values.cell(row=1, column=index, value=choices.__name__)
        listed = entries(choices)
        for row, entry in enumerate(listed, start=2):
            values.cell(row=row, column=index, value=entry)
        ranges[choices] = f"'{VALUES_SHEET}'!${letter}$2:${letter}${len(listed) + 1}"
    return ranges


def _validation(column: Column, ranges: dict[type, str]) -> DataValidation | None:
    title = f"{column.zh} {column.en}"[:32]  # Excel's limit for a prompt's title
    if column.kind == "choice":
        return DataValidation(
            type="list",
            formula1=ranges[column.choices],
            allow_blank=not column.required,
            showErrorMessage=True,
            errorTitle=title,
            error="请从下拉列表中选择 Choose from the list",
            promptTitle=title,
            prompt="从下拉列表中选择 Choose from the list",
            showInputMessage=True,
        )
    if column.kind == "date":
        return DataValidation(
            type="date",
            operator="greaterThan",
            formula1="DATE(1990,1,1)",
            allow_blank=True,
            showErrorMessage=True,
            errorTitle=title,
            error="日期 YYYY-MM-DD a date",
            promptTitle=title,
            prompt="日期 YYYY-MM-DD",
            showInputMessage=True,
        )
    return None
