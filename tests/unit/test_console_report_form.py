"""The report form carries the hotline contract both ways: its fields become the JSON intake takes
(a real report passes the contract), and intake's 422 becomes one message beside each field."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.console.form_errors import field_errors as errors_at
from services.console.pages import note_of
from services.console.report_form import field_errors, report_of
from shared.contracts.hotline import HotlineReport
from shared.http import field_errors as field_errors_of_api

FORM = {
    "submission_id": "5b0f3c3e-1111-4111-8111-111111111111",
    "channel": "hotline",
    "reporter_role": "neighbour",
    "reporter_name": " A. Neighbour ",
    "reporter_phone": "",
    "child_name": "Example Child",
    "child_national_id": "",
    "child_sex": "F",
    "child_birth_date": "",
    "child_age_estimate": "9",
    "child_address": "",
    "child_school": "",
    "jurisdiction": "140402001001",
    "narrative": "Heard screaming.",
}


def test_the_forms_fields_make_a_report_the_contract_takes() -> None:
    report = report_of(
        FORM, categories=["abuse"], indicators=["immediate_danger"], now=datetime(2026, 12, 2, 9, tzinfo=UTC)
    )
    parsed = HotlineReport.model_validate_json(json.dumps(report))  # as intake parses the body
    assert parsed.external_id == "console-5b0f3c3e-1111-4111-8111-111111111111"
    assert (parsed.reporter.name, parsed.reporter.phone, parsed.child.age_estimate) == (
        "A. Neighbour",
        None,
        9,
    )
    assert [c.value for c in parsed.categories] == ["abuse"] and parsed.reporter.anonymous is False


def test_intakes_422_is_one_message_beside_each_field() -> None:
    detail = [
        {"loc": ["body", "categories"], "type": "too_short"},
        {"loc": ["body", "child", "birth_date"], "type": "date_from_datetime_parsing"},
        {"loc": ["body", "child", "birth_date"], "type": "value_error"},
        {"loc": ["body", "reporter", "role"], "type": "enum"},
        {"loc": ["body", "narrative"], "type": "string_too_long"},
        {"loc": ["body", "child"], "type": "value_error"},
        {"loc": ["body", "received_at"], "type": "datetime_parsing"},
    ]
    assert field_errors(detail) == {
        "categories": "missing",
        "child_birth_date": "date",
        "reporter_role": "choice",
        "narrative": "too_long",
        "child_name": "invalid",
        "form": "date",
    }
    assert field_errors("not a list") == {}


def test_every_mistake_is_told_at_once_each_in_its_own_words() -> None:
    """A birth date in the future is told with the missing kind of difficulty and the name too long,
    not after them, and in words of its own (not "invalid")."""
    form = {**FORM, "child_birth_date": "2999-01-01", "child_name": "x" * 300}
    report = report_of(form, categories=[], indicators=[])
    with pytest.raises(ValidationError) as caught:
        HotlineReport.model_validate_json(json.dumps(report))
    detail = field_errors_of_api(caught.value.errors(include_input=False), prefix=("body",))
    assert field_errors(detail) == {
        "child_birth_date": "future",
        "child_name": "too_long",
        "categories": "missing",
    }


def test_a_child_nobody_can_name_is_described_and_needs_an_approximate_age() -> None:
    unnamed = {
        **FORM,
        "child_name": "",
        "child_appearance": "about 1.2 m, a bruise on the left cheek",
        "child_place_seen": "the courtyard behind the grain store",
        "child_sex": "M",
        "child_age_estimate": "7",
    }
    report = report_of(unnamed, categories=["abuse"], indicators=[])
    parsed = HotlineReport.model_validate_json(json.dumps(report))
    assert parsed.child.provisional and parsed.child.place_seen == "the courtyard behind the grain store"
    with pytest.raises(ValidationError) as caught:
        HotlineReport.model_validate_json(
            json.dumps(report_of({**unnamed, "child_age_estimate": ""}, categories=["abuse"], indicators=[]))
        )
    detail = field_errors_of_api(caught.value.errors(include_input=False), prefix=("body",))
    assert field_errors(detail) == {"child_age_estimate": "age_needed"}


def test_a_service_refusing_a_visit_dated_in_the_future_is_told_beside_the_forms_field() -> None:
    detail = [
        {
            "loc": ["body", "visited_at"],
            "msg": "Value error, cannot be dated in the future",
            "type": "value_error",
        },
        {
            "loc": ["body", "note"],
            "msg": "String should have at most 4000 characters",
            "type": "string_too_long",
        },
    ]
    assert errors_at(detail, {("visited_at",): "hv_visited_at", ("note",): "hv_note"}) == {
        "hv_visited_at": "future",
        "hv_note": "too_long",
    }
    assert errors_at([{"loc": ["body", "elsewhere"], "type": "missing"}], {}) == {"form": "missing"}


def test_a_note_is_what_the_person_wrote_or_none() -> None:
    assert note_of({"note": "  Grandmother was home.  "}) == "Grandmother was home."
    assert note_of({"note": "   "}) is None and note_of({}) is None
