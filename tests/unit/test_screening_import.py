"""The screening import's pure parts: each row rule (whose errors never carry the cell's value),
the XLSX template a clerk fills in, and the CSV, XLSX and JSON-lines readers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from cpnet.importer.columns import COLUMNS, WORDS, entries
from cpnet.importer.readers import ImportFailed, count_rows, read_rows
from cpnet.importer.rows import validate_row
from cpnet.importer.template import FIRST_DATA_ROW, SHEET, VALUES_SHEET, write_template
from shared.contracts.screening import ScreeningRecord
from shared.contracts.vocabulary import GuardianWhereabouts
from shared.territory.registry import load_territory

TERRITORY = load_territory()
FILE_ID = "0123456789abcdef"
SECRET_NAME = "王小明"
SECRET_ID = "140402201005051234"


def row(**changes) -> dict:
    cells = {
        "surveyed_at": "2026-03-02",
        "surveyor_ref": "S-17",
        "jurisdiction": "140402001001",
        "name": SECRET_NAME,
        "national_id": SECRET_ID,
        "sex": "男 M",
        "birth_date": "2010-05-05",
        "address": "府后街 3 号",
        "school": "长治市第一小学",
        "father": "外出务工 migrant_work",
        "mother": "服刑在押",
        "caregiver": "grandparents",
        "school_status": "在校 enrolled",
        "health": "健康 healthy",
        "disability": "无 none",
        "category_1": "留守流动缺乏有效监护 left_behind",
        "indicator_1": "left_behind",
    }
    cells.update(changes)
    return cells


def errors_of(cells: dict) -> set[tuple[str, str]]:
    outcome = validate_row(cells, row=7, file_id=FILE_ID, territory=TERRITORY)
    assert isinstance(outcome, list), "the row should have been refused"
    assert all(error.row == 7 for error in outcome)
    text = json.dumps([vars(error) for error in outcome], ensure_ascii=False)
    for value in cells.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in text, "an error must never carry a cell's value"
    return {(error.column, error.rule) for error in outcome}


# --- rows --------------------------------------------------------------------------------


def test_a_good_row_becomes_a_screening_record_with_a_stable_id() -> None:
    record = validate_row(row(), row=7, file_id=FILE_ID, territory=TERRITORY)
    assert isinstance(record, ScreeningRecord)
    assert record.external_id == "0123456789abcdef-7"
    assert record.surveyed_at == datetime(2026, 3, 1, 16, tzinfo=UTC)  # midnight in China
    assert (record.father, record.mother, record.caregiver) == ("migrant_work", "prison", "grandparents")
    assert record.child.sex == "M" and record.child.birth_date == date(2010, 5, 5)
    assert record.categories == ["left_behind"] and record.indicators == ["left_behind"]


def test_a_child_who_is_fine_has_no_categories() -> None:
    record = validate_row(row(category_1=None, indicator_1=""), row=3, file_id=FILE_ID, territory=TERRITORY)
    assert isinstance(record, ScreeningRecord) and record.categories == [] and record.indicators == []


@pytest.mark.parametrize(
    "cells, expected",
    [
        ({"sex": None}, ("sex", "required")),
        ({"surveyor_ref": "  "}, ("surveyor_ref", "required")),
        ({"father": "在外地 elsewhere"}, ("father", "not one of the allowed values")),
        ({"surveyed_at": "March 2"}, ("surveyed_at", "not a date (YYYY-MM-DD)")),
        ({"birth_date": "2010-02-30"}, ("birth_date", "not a date of the calendar")),
        (
            {"national_id": 1.40402201005051e17},
            ("national_id", "a number, not text: format the cell as text"),
        ),
        ({"jurisdiction": "140402001099"}, ("jurisdiction", "not a village of the territory registry")),
        ({"jurisdiction": "140402001000"}, ("jurisdiction", "not a village of the territory registry")),
        ({"birth_date": "2005-01-01"}, ("birth_date", "the child was 18 or older when surveyed")),
        ({"birth_date": "2026-06-01"}, ("birth_date", "after surveyed_at")),
        ({"category_1": None}, ("category_1", "indicators need at least one category")),
    ],
)
def test_each_rule_names_the_column_and_the_rule(cells: dict, expected: tuple[str, str]) -> None:
    assert expected in errors_of(row(**cells))


def test_contract_rules_name_the_column_without_the_value() -> None:
    found = errors_of(row(national_id="12345-not-an-id", surveyor_ref="has spaces in it"))
    assert {column for column, _ in found} == {"national_id", "surveyor_ref"}
    assert all("pattern" in rule for _, rule in found)


def test_a_child_must_be_identifiable() -> None:
    assert {column for column, _ in errors_of(row(national_id=None, birth_date=None))} == {"name/national_id"}


def test_every_rule_of_a_row_is_reported_at_once() -> None:
    found = errors_of(row(sex="X", health="很好", jurisdiction="999999999999"))
    assert {column for column, _ in found} == {"sex", "health", "jurisdiction"}


def test_every_value_has_a_word_and_the_dropdown_entries_are_understood() -> None:
    for choices, words in WORDS.items():
        assert set(words) == {member.value for member in choices}, choices
    for column in COLUMNS:
        if column.choices is None:
            continue
        for entry in entries(column.choices):
            word, code = entry.split(" ")
            for spelling in (entry, word, code):
                record = validate_row(
                    row(**{column.key: spelling}), row=3, file_id=FILE_ID, territory=TERRITORY
                )
                if isinstance(record, ScreeningRecord):
                    continue
                # A choice may be fine in itself and still break a rule of the row (an indicator
                # without a category is refused on the category column).
                assert all(error.column != column.key for error in record), (column.key, spelling)


# --- the template ------------------------------------------------------------------------


def test_the_template_has_both_header_rows_and_a_dropdown_for_every_choice(tmp_path: Path) -> None:
    workbook = load_workbook(write_template(tmp_path / "template.xlsx"))
    sheet = workbook[SHEET]
    assert workbook.sheetnames[0] == SHEET and workbook[VALUES_SHEET].sheet_state == "hidden"
    assert [cell.value for cell in sheet[1]] == [column.zh for column in COLUMNS]
    assert [cell.value for cell in sheet[2]] == [column.en for column in COLUMNS]
    validations = sheet.data_validations.dataValidation
    lists = {str(dv.sqref).split(":")[0]: dv for dv in validations if dv.type == "list"}
    for index, column in enumerate(COLUMNS, start=1):
        letter = sheet.cell(row=1, column=index).column_letter
        if column.choices is None:
            assert f"{letter}{FIRST_DATA_ROW}" not in lists
            continue
        validation = lists[f"{letter}{FIRST_DATA_ROW}"]
        sheet_name, cells = validation.formula1.split("!")
        assert sheet_name.strip("'") == VALUES_SHEET
        first, last = cells.replace("$", "").split(":")
        shown = [c.value for (c,) in workbook[VALUES_SHEET][first:last]]
        assert shown == entries(column.choices), column.key
    assert "外出务工 migrant_work" in entries(GuardianWhereabouts)


def test_a_filled_in_template_reads_back(tmp_path: Path) -> None:
    path = write_template(tmp_path / "survey.xlsx")
    workbook = load_workbook(path)
    sheet = workbook[SHEET]
    cells = row()
    sheet.append([cells.get(column.key) for column in COLUMNS])
    workbook.save(path)
    (read,) = list(read_rows(path))
    assert read.number == FIRST_DATA_ROW and read.problem is None
    assert isinstance(
        validate_row(read.cells, row=read.number, file_id=FILE_ID, territory=TERRITORY), ScreeningRecord
    )


# --- readers -----------------------------------------------------------------------------


def _csv(path: Path, lines: list[list[str]], *, bom: bool) -> Path:
    text = "\n".join(",".join(line) for line in lines) + "\n"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


@pytest.mark.parametrize("bom", [True, False])
@pytest.mark.parametrize("headers", ["zh", "en", "key"])
def test_csv_rows_with_either_header(tmp_path: Path, bom: bool, headers: str) -> None:
    cells = row()
    lines = [
        [getattr(c, headers) for c in COLUMNS],
        [str(cells.get(c.key) or "") for c in COLUMNS],
        [""] * len(COLUMNS),
        [str(cells.get(c.key) or "") for c in COLUMNS],
    ]
    path = _csv(tmp_path / "survey.csv", lines, bom=bom)
    rows = list(read_rows(path))
    assert [r.number for r in rows] == [2, 4]  # blank lines are skipped, numbers stay the file's
    assert rows[0].cells["name"] == SECRET_NAME and rows[0].cells["surveyed_at"] == "2026-03-02"
    assert count_rows(path) == 4


def test_the_template_s_second_header_row_is_skipped(tmp_path: Path) -> None:
    cells = row()
    lines = [[c.zh for c in COLUMNS], [c.en for c in COLUMNS], [str(cells.get(c.key) or "") for c in COLUMNS]]
    assert [r.number for r in read_rows(_csv(tmp_path / "s.csv", lines, bom=False))] == [3]


def test_a_missing_column_or_an_unknown_header_is_one_line_without_values(tmp_path: Path) -> None:
    headers = [c.key for c in COLUMNS if c.key != "health"]
    with pytest.raises(ImportFailed, match="missing columns: health"):
        list(read_rows(_csv(tmp_path / "a.csv", [headers], bom=False)))
    # A file without its header row: the first child's data must not appear in the error.
    cells = row()
    with pytest.raises(ImportFailed) as failed:
        list(read_rows(_csv(tmp_path / "b.csv", [[str(cells.get(c.key) or "") for c in COLUMNS]], bom=False)))
    assert "no known column" in str(failed.value) and SECRET_NAME not in str(failed.value)


def test_unreadable_and_unknown_files_fail_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="unknown format"):
        list(read_rows(tmp_path / "survey.xls"))
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip")
    with pytest.raises(ImportFailed, match="cannot be read"):
        list(read_rows(tmp_path / "broken.xlsx"))
    header = ",".join(c.key for c in COLUMNS) + "\n"
    (tmp_path / "latin.csv").write_bytes(header.encode() + "é".encode("latin-1"))
    with pytest.raises(ImportFailed, match="not UTF-8"):
        list(read_rows(tmp_path / "latin.csv"))


def test_xlsx_rows_are_read_with_their_types(tmp_path: Path) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append([c.en for c in COLUMNS])
    cells = row(surveyed_at=datetime(2026, 3, 2), birth_date=date(2010, 5, 5))
    sheet.append([cells.get(c.key) for c in COLUMNS])
    sheet.append([None] * len(COLUMNS))
    sheet.append([cells.get(c.key) for c in COLUMNS] + [None, "stray"])
    workbook.save(tmp_path / "s.xlsx")
    rows = list(read_rows(tmp_path / "s.xlsx"))
    assert [(r.number, r.problem) for r in rows] == [(2, None), (4, "a cell outside the columns")]
    record = validate_row(rows[0].cells, row=2, file_id=FILE_ID, territory=TERRITORY)
    assert isinstance(record, ScreeningRecord)


def test_json_lines_rows(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(row(), ensure_ascii=False),
                "",
                "[1, 2]",
                "{not json",
                json.dumps({**row(), "nickname": "x"}),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    rows = list(read_rows(path))
    assert [(r.number, r.problem) for r in rows] == [
        (1, None),
        (3, "not a JSON object"),
        (4, "not valid JSON"),
        (5, "unknown fields: nickname"),
    ]
    assert rows[0].cells["name"] == SECRET_NAME
