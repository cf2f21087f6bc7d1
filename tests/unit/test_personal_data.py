"""Proves from the exported JSON Schemas that no event on the bus can carry personal data,
and that only the raw hotline report and the screening record do."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel

from shared.contracts.asyncapi import ASYNCAPI_FILE
from shared.contracts.export import schema_documents
from shared.contracts.hotline import HotlineReport
from shared.contracts.screening import ScreeningRecord

HOTLINE_SCHEMA = f"{HotlineReport.TOPIC}.v{HotlineReport.SCHEMA_VERSION}.json"
SCREENING_SCHEMA = f"{ScreeningRecord.TOPIC}.v{ScreeningRecord.SCHEMA_VERSION}.json"

PERSONAL_DATA_NAMES = frozenset(
    {
        "name",
        "full_name",
        "national_id",
        "id_number",
        "birth_date",
        "date_of_birth",
        "address",
        "phone",
        "phone_number",
        "narrative",
        "description",
        "notes",
        "school",
        "free_text",
        "email",
    }
)


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    assert ref.startswith("#/"), f"only local references are expected, got {ref}"
    target: Any = schema
    for part in ref[2:].split("/"):
        target = target[part]
    return target


def personal_data_properties(schema: dict[str, Any]) -> dict[str, str]:
    """Path → why, for every property (at any depth, following $ref) that is marked as
    personal data or bears a personal-data name."""
    findings: dict[str, str] = {}
    seen: set[int] = set()

    def walk(node: Any, path: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")
            return
        if not isinstance(node, dict):
            return
        node = _resolve(schema, node)
        if id(node) in seen:
            return
        seen.add(id(node))
        for name, prop in node.get("properties", {}).items():
            prop_path = f"{path}.{name}"
            if name.lower() in PERSONAL_DATA_NAMES:
                findings[prop_path] = "personal-data name"
            if prop.get("x-personal-data") or _resolve(schema, prop).get("x-personal-data"):
                findings[prop_path] = "marked x-personal-data"
        for key, child in node.items():
            # "properties" maps names to schemas; its keys are not keywords to skip.
            if key == "properties":
                for name, prop in child.items():
                    walk(prop, f"{path}.{name}")
            elif key != "$defs":
                walk(child, f"{path}/{key}")

    walk(schema, "$")
    return findings


# The AsyncAPI document holds every schema, the hotline report's too; test_asyncapi.py
# checks its personal data message by message.
@pytest.mark.parametrize(
    "file_name", sorted(set(schema_documents()) - {HOTLINE_SCHEMA, SCREENING_SCHEMA, ASYNCAPI_FILE})
)
def test_no_event_schema_carries_personal_data(file_name: str) -> None:
    findings = personal_data_properties(schema_documents()[file_name])
    assert not findings, f"{file_name} carries personal data: {findings}"


def test_the_hotline_report_marks_its_personal_data() -> None:
    findings = personal_data_properties(schema_documents()[HOTLINE_SCHEMA])
    marked = {path.rsplit(".", 1)[-1] for path, why in findings.items() if why == "marked x-personal-data"}
    assert {"name", "national_id", "birth_date", "address", "phone", "narrative"} <= marked
    # Every field with a personal-data name must also carry the marker.
    assert all(why == "marked x-personal-data" for why in findings.values()), findings


def test_the_screening_record_marks_its_personal_data() -> None:
    findings = personal_data_properties(schema_documents()[SCREENING_SCHEMA])
    marked = {path.rsplit(".", 1)[-1] for path, why in findings.items() if why == "marked x-personal-data"}
    assert {
        "name",
        "national_id",
        "birth_date",
        "address",
        "father",
        "mother",
        "health",
        "disability",
    } <= marked
    assert all(why == "marked x-personal-data" for why in findings.values()), findings


def test_the_check_catches_a_payload_with_a_name() -> None:
    class Guardian(BaseModel):
        name: str

    class LeakyPayload(BaseModel):
        case_id: UUID
        guardian: Guardian

    findings = personal_data_properties(LeakyPayload.model_json_schema())
    assert findings == {"$.guardian.name": "personal-data name"}


def test_the_check_catches_a_marked_field_under_an_innocent_name() -> None:
    schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/Entry"}},
        },
        "$defs": {
            "Entry": {
                "type": "object",
                "properties": {"contact": {"type": "string", "x-personal-data": True}},
            }
        },
    }
    assert personal_data_properties(schema) == {"$.items/items.contact": "marked x-personal-data"}
