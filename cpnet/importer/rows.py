"""One survey row → a ScreeningRecord, or the reasons it is not one: each names the column and
the rule, never the value (a cell may hold a child's name or ID number)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from cpnet.importer.columns import BY_KEY, CATEGORY_COLUMNS, COLUMNS, INDICATOR_COLUMNS, Column, choice_value
from shared.contracts.screening import ScreeningRecord
from shared.territory.code import TerritoryLevel
from shared.territory.registry import TerritoryRegistry

# A survey gives the day, not the hour: the day begins in China's one time zone.
SURVEY_TIMEZONE = ZoneInfo("Asia/Shanghai")
ROW = "(row)"  # the column of a rule about the row as a whole
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_CATEGORY_KEYS = [f"category_{n}" for n in range(1, CATEGORY_COLUMNS + 1)]
_INDICATOR_KEYS = [f"indicator_{n}" for n in range(1, INDICATOR_COLUMNS + 1)]
_CHILD_FIELDS = ("name", "national_id", "sex", "birth_date", "address", "school")
_SITUATION_FIELDS = ("father", "mother", "caregiver", "school_status", "health", "disability")


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    rule: str


class _CellError(ValueError):
    pass


def external_id(file_id: str, row: int) -> str:
    """A row's id: stable for one file (its digest) and row, so importing it again is a no-op."""
    return f"{file_id}-{row}"


def validate_row(
    cells: dict[str, Any], *, row: int, file_id: str, territory: TerritoryRegistry
) -> ScreeningRecord | list[RowError]:
    """The row's record, or every rule it breaks."""
    errors: list[RowError] = []
    values: dict[str, Any] = {}
    for column in COLUMNS:
        try:
            values[column.key] = _cell(column, cells.get(column.key))
        except _CellError as exc:
            errors.append(RowError(row, column.key, str(exc)))
    code = values.get("jurisdiction")
    if code is not None and (code not in territory or territory.node(code).level != TerritoryLevel.village):
        errors.append(RowError(row, "jurisdiction", "not a village of the territory registry"))
    if errors:
        return errors
    categories = [(key, values[key]) for key in _CATEGORY_KEYS if values[key] is not None]
    indicators = [(key, values[key]) for key in _INDICATOR_KEYS if values[key] is not None]
    document = {
        "schema_version": 1,
        "external_id": external_id(file_id, row),
        "surveyed_at": datetime.combine(values["surveyed_at"], time(), SURVEY_TIMEZONE).isoformat(),
        "surveyor_ref": values["surveyor_ref"],
        "jurisdiction": code,
        "child": {name: _json(values[name]) for name in _CHILD_FIELDS},
        **{key: values[key] for key in _SITUATION_FIELDS},
        "categories": list(dict.fromkeys(value for _, value in categories)),
        "indicators": list(dict.fromkeys(value for _, value in indicators)),
    }
    try:
        # As JSON, exactly as intake will read the record off the topic.
        return ScreeningRecord.model_validate_json(json.dumps(document))
    except ValidationError as exc:
        return [
            _row_error(row, err, categories, indicators)
            for err in exc.errors(include_input=False, include_url=False, include_context=False)
        ]


def _row_error(
    row: int, err: dict, categories: list[tuple[str, str]], indicators: list[tuple[str, str]]
) -> RowError:
    # Pydantic's messages name the rule and the allowed values, never the input (asked for
    # without it above); a model rule's message is our own text, "field: rule" or a rule.
    rule = str(err["msg"]).removeprefix("Value error, ")
    field, _, rest = rule.partition(": ")
    if field.startswith("child.") and field[len("child.") :] in BY_KEY:
        return RowError(row, field[len("child.") :], rest)
    if rule == "indicators need at least one category":
        return RowError(row, _CATEGORY_KEYS[0], rule)
    return RowError(row, _column_of(err["loc"], categories, indicators), rule)


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _cell(column: Column, value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip() or None
    if value is None:
        if column.required:
            raise _CellError("required")
        return None
    if column.kind == "date":
        return _date(value)
    if isinstance(value, float):
        # Excel keeps 15 significant digits: an 18-digit ID typed as a number is already wrong.
        raise _CellError("a number, not text: format the cell as text")
    if isinstance(value, (datetime, date)):
        raise _CellError("a date, not text")
    text = str(value)
    if column.kind == "choice":
        code = choice_value(column, text)
        if code is None:
            raise _CellError("not one of the allowed values")
        return code
    return text


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE.match(str(value))
    if match is None:
        raise _CellError("not a date (YYYY-MM-DD)")
    try:
        return date(*map(int, match.groups()))
    except ValueError:
        raise _CellError("not a date of the calendar") from None


def _column_of(loc: tuple, categories: list[tuple[str, str]], indicators: list[tuple[str, str]]) -> str:
    """The survey column a contract error is about."""
    if not loc:
        return ROW
    head = loc[0]
    if head == "child":
        return str(loc[1]) if len(loc) > 1 and loc[1] in BY_KEY else "name/national_id"
    if head in ("categories", "indicators") and len(loc) > 1 and isinstance(loc[1], int):
        listed = categories if head == "categories" else indicators
        return listed[loc[1]][0] if loc[1] < len(listed) else str(head)
    return str(head) if head in BY_KEY else ROW
