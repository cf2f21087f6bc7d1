"""The report form carries the hotline contract both ways: its fields become the JSON intake takes
(a real report passes the contract), and intake's 422 becomes one message beside each field."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.console.report_form import field_errors, report_of
from shared.contracts.hotline import HotlineReport

FORM = {"submission_id": "5b0f3c3e-1111-4111-8111-111111111111", "channel": "hotline", "reporter_role": "neighbour",
        "reporter_name": " A. Neighbour ", "reporter_phone": "", "child_name": "Example Child",
        "child_national_id": "", "child_sex": "F", "child_birth_date": "", "child_age_estimate": "9",
        "child_address": "", "child_school": "", "jurisdiction": "140402001001", "narrative": "Heard screaming."}


def test_the_forms_fields_make_a_report_the_contract_takes() -> None:
    report = report_of(FORM, categories=["abuse"], indicators=["immediate_danger"],
                       now=datetime(2026, 12, 2, 9, tzinfo=UTC))
    parsed = HotlineReport.model_validate_json(json.dumps(report))  # as intake parses the body
    assert parsed.external_id == "console-5b0f3c3e-1111-4111-8111-111111111111"
    assert (parsed.reporter.name, parsed.reporter.phone, parsed.child.age_estimate) == ("A. Neighbour", None, 9)
    assert [c.value for c in parsed.categories] == ["abuse"] and parsed.reporter.anonymous is False


def test_intakes_422_is_one_message_beside_each_field() -> None:
    detail = [{"loc": ["body", "categories"], "type": "too_short"},
              {"loc": ["body", "child", "birth_date"], "type": "date_from_datetime_parsing"},
              {"loc": ["body", "child", "birth_date"], "type": "value_error"},
              {"loc": ["body", "reporter", "role"], "type": "enum"},
              {"loc": ["body", "narrative"], "type": "string_too_long"},
              {"loc": ["body", "child"], "type": "value_error"},
              {"loc": ["body", "received_at"], "type": "datetime_parsing"}]
    assert field_errors(detail) == {"categories": "missing", "child_birth_date": "date", "reporter_role": "choice",
                                    "narrative": "too_long", "child_name": "invalid", "form": "date"}
    assert field_errors("not a list") == {}
