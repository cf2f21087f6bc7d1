"""Reading a survey file one row at a time — CSV (UTF-8, with or without BOM), XLSX (openpyxl's
read-only mode, never the whole sheet in memory) or JSON lines — as cells keyed by column."""

from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

from cpnet.importer.columns import COLUMNS, column_of_header

FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl"}
REQUIRED_HEADERS = [column.key for column in COLUMNS if not column.optional_header]


class ImportFailed(Exception):
    """The file cannot be imported at all; one line saying why (never a cell's value)."""


class ImportStopped(ImportFailed):
    """Asked to stop (SIGTERM, Ctrl-C): every row up to the one named is published, none after it."""


@dataclass(frozen=True)
class Row:
    number: int  # the row (line) number in the file, as a spreadsheet shows it
    cells: dict[str, Any]
    problem: str | None = None  # the row could not be read as a row at all


def format_of(path: Path) -> str:
    try:
        return FORMATS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(sorted(FORMATS))
        suffix = path.suffix or "(no extension)"
        raise ImportFailed(f"{path.name}: unknown format {suffix!r} (known: {known})") from None


def read_rows(path: Path) -> Iterator[Row]:
    """The file's rows, header rows left out; blank rows are skipped."""
    reader = {"csv": _csv_rows, "xlsx": _xlsx_rows, "jsonl": _jsonl_rows}[format_of(path)]
    try:
        yield from reader(path)
    except (OSError, zipfile.BadZipFile, KeyError) as exc:
        raise ImportFailed(f"{path.name}: cannot be read ({type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise ImportFailed(f"{path.name}: not UTF-8 text") from None
    except csv.Error as exc:
        raise ImportFailed(f"{path.name}: not a CSV file ({exc})") from None


def count_rows(path: Path) -> int | None:
    """About how many rows the file holds (for the progress bar), without parsing it."""
    try:
        if format_of(path) == "xlsx":
            return _xlsx_row_count(path)
        with path.open("rb") as stream:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(1 << 20), b""))
    except (OSError, zipfile.BadZipFile, KeyError):
        return None  # read_rows says what is wrong with the file


def _header(cells: Iterable[Any], *, path: Path) -> list[str | None]:
    headers = [column_of_header(cell) if cell not in (None, "") else None for cell in cells]
    # Positions, not the cells: a file without its header row would show a child's data here.
    unknown = [
        str(n)
        for n, (cell, key) in enumerate(zip(cells, headers, strict=True), start=1)
        if key is None and cell not in (None, "")
    ]
    if unknown:
        raise ImportFailed(
            f"{path.name}: the header names no known column at position {', '.join(unknown)} "
            "(use the template's headers, zh-CN or English)"
        )
    missing = [key for key in REQUIRED_HEADERS if key not in headers]
    if missing:
        raise ImportFailed(f"{path.name}: missing columns: {', '.join(missing)}")
    return headers


def _is_header(cells: list[Any]) -> bool:
    """The template's second header row (English under zh-CN)."""
    filled = [cell for cell in cells if cell not in (None, "")]
    return bool(filled) and all(column_of_header(cell) is not None for cell in filled)


def _tabular(rows: Iterator[list[Any]], path: Path, sizes: dict[str, int] | None = None) -> Iterator[Row]:
    first = next(rows, None)
    if first is None:
        raise ImportFailed(f"{path.name}: empty file, no header row")
    cells = list(first)
    headers = _header(cells, path=path)
    for number, values in enumerate(rows, start=2):
        values = list(values)
        if all(value in (None, "") for value in values):
            continue
        if number == 2 and _is_header(values):
            continue
        cells = list(zip_longest(headers, values))
        if any(key is None and value not in (None, "") for key, value in cells):
            yield Row(number, {}, "a cell outside the columns")
            continue
        yield Row(number, {key: value for key, value in cells if key is not None})


def _csv_rows(path: Path) -> Iterator[Row]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        yield from _tabular(iter(csv.reader(stream)), path)


def _xlsx_rows(path: Path) -> Iterator[Row]:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        yield from _tabular(sheet.iter_rows(min_row=1, values_only=True), path)
    finally:
        workbook.close()


def _xlsx_row_count(path: Path) -> int | None:
    from openpyxl import load_workbook

    workbook = load_workbook(path, read_only=True)  # the sheet's stated dimension, not its rows
    try:
        return workbook.worksheets[0].max_row
    finally:
        workbook.close()


def _jsonl_rows(path: Path) -> Iterator[Row]:
    keys = {column.key for column in COLUMNS}
    with path.open(encoding="utf-8-sig") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                cells = json.loads(line)
            except ValueError:
                yield Row(number, {}, "not valid JSON")
                continue
            if not isinstance(cells, dict):
                yield Row(number, {}, "not a JSON object")
            elif unknown := sorted(set(cells) - keys):
                yield Row(number, {}, f"unknown fields: {', '.join(unknown)}")
            else:
                yield Row(number, cells)
