"""The report form: the hotline contract (shared/contracts/hotline.py) as fields a person fills in,
and back. Pure: the form's fields become the JSON intake takes, and intake's 422 answer becomes
one message beside each field it names. Intake decides what is valid; the form only carries it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from shared.contracts.vocabulary import Category, Channel, Indicator

SEXES = ("F", "M", "U")
# Who reported, as the form offers it (the hotline's own operator reports as `hotline`).
REPORTER_ROLES = tuple(Channel)
CATEGORIES = tuple(Category)
INDICATORS = tuple(Indicator)
TEXT_FIELDS = ("channel", "reporter_role", "reporter_name", "reporter_phone", "child_name", "child_national_id",
               "child_sex", "child_birth_date", "child_age_estimate", "child_address", "child_school",
               "jurisdiction", "narrative")
# Where each part of the contract is on the form (a 422's `loc` after "body").
FIELD_OF_LOC = {
    ("channel",): "channel", ("reporter", "role"): "reporter_role", ("reporter", "name"): "reporter_name",
    ("reporter", "phone"): "reporter_phone", ("reporter", "anonymous"): "reporter_anonymous",
    ("reporter",): "reporter_name", ("child", "name"): "child_name", ("child", "national_id"): "child_national_id",
    ("child", "sex"): "child_sex", ("child", "birth_date"): "child_birth_date",
    ("child", "age_estimate"): "child_age_estimate", ("child", "address"): "child_address",
    ("child", "school"): "child_school", ("child",): "child_name", ("jurisdiction",): "jurisdiction",
    ("categories",): "categories", ("indicators",): "indicators", ("narrative",): "narrative",
}


def _text(form: Mapping[str, Any], name: str) -> str | None:
    value = (form.get(name) or "").strip()
    return value or None


def report_of(form: Mapping[str, Any], *, categories: Iterable[str], indicators: Iterable[str],
              now: datetime | None = None) -> dict[str, Any]:
    """The JSON intake takes, from the form's fields (empty fields are left out: absent, not "")."""
    age = _text(form, "child_age_estimate")
    return {
        "schema_version": 1,
        "external_id": f"console-{_text(form, 'submission_id') or uuid.uuid4()}",
        "channel": _text(form, "channel"),
        "received_at": (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "reporter": {"role": _text(form, "reporter_role"), "name": _text(form, "reporter_name"),
                     "phone": _text(form, "reporter_phone"), "anonymous": form.get("reporter_anonymous") == "on"},
        "child": {"name": _text(form, "child_name"), "national_id": _text(form, "child_national_id"),
                  "sex": _text(form, "child_sex"), "birth_date": _text(form, "child_birth_date"),
                  "age_estimate": int(age) if age and age.isdigit() else age,
                  "address": _text(form, "child_address"), "school": _text(form, "child_school")},
        "jurisdiction": _text(form, "jurisdiction"),
        "categories": list(categories),
        "indicators": list(indicators),
        "narrative": form.get("narrative") or "",
    }


def field_errors(detail: Any) -> dict[str, str]:
    """Intake's 422 `detail` as {form field: error type}, the first error of each field; an error
    the form has no field for is kept under `form`."""
    errors: dict[str, str] = {}
    for error in detail if isinstance(detail, list) else []:
        loc = tuple(part for part in error.get("loc", ()) if part != "body" and not isinstance(part, int))
        field = next((FIELD_OF_LOC[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in FIELD_OF_LOC), "form")
        errors.setdefault(field, _kind(error.get("type", "")))
    return errors


def _kind(error_type: str) -> str:
    """The few kinds of mistake a person is told about, in their language (the catalog's
    `error:<kind>`)."""
    if error_type in ("missing", "too_short", "list_too_short"):
        return "missing"
    if error_type.startswith("string_too_long") or error_type == "too_long":
        return "too_long"
    if error_type in ("enum", "literal_error"):
        return "choice"
    if error_type.startswith(("date", "datetime")):
        return "date"
    if error_type.startswith(("int", "greater_than", "less_than")):
        return "number"
    return "invalid"
