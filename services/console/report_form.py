"""The report form: the hotline contract (shared/contracts/hotline.py) as fields a person fills in,
and back. Pure: the form's fields become the JSON intake takes, and intake's 422 answer becomes
one message beside each field it names. Intake decides what is valid; the form only carries it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from services.console.form_errors import field_errors as errors_at
from shared.contracts.vocabulary import Category, Channel, Indicator

SEXES = ("F", "M", "U")
# Who reported, as the form offers it (the hotline's own operator reports as `hotline`).
REPORTER_ROLES = tuple(Channel)
CATEGORIES = tuple(Category)
INDICATORS = tuple(Indicator)
TEXT_FIELDS = (
    "channel",
    "reporter_role",
    "reporter_name",
    "reporter_phone",
    "child_name",
    "child_national_id",
    "child_sex",
    "child_birth_date",
    "child_age_estimate",
    "child_address",
    "child_school",
    "child_appearance",
    "child_place_seen",
    "jurisdiction",
    "narrative",
)
# Where each part of the contract is on the form (a 422's `loc` after "body").
FIELD_OF_LOC = {
    ("channel",): "channel",
    ("reporter", "role"): "reporter_role",
    ("reporter", "name"): "reporter_name",
    ("reporter", "phone"): "reporter_phone",
    ("reporter", "anonymous"): "reporter_anonymous",
    ("reporter",): "reporter_name",
    ("child", "name"): "child_name",
    ("child", "national_id"): "child_national_id",
    ("child", "sex"): "child_sex",
    ("child", "birth_date"): "child_birth_date",
    ("child", "age_estimate"): "child_age_estimate",
    ("child", "address"): "child_address",
    ("child", "school"): "child_school",
    ("child", "appearance"): "child_appearance",
    ("child", "place_seen"): "child_place_seen",
    ("child",): "child_name",
    ("jurisdiction",): "jurisdiction",
    ("categories",): "categories",
    ("indicators",): "indicators",
    ("narrative",): "narrative",
}


def _text(form: Mapping[str, Any], name: str) -> str | None:
    value = (form.get(name) or "").strip()
    return value or None


def report_of(
    form: Mapping[str, Any],
    *,
    categories: Iterable[str],
    indicators: Iterable[str],
    now: datetime | None = None,
) -> dict[str, Any]:
    """The JSON intake takes, from the form's fields (empty fields are left out: absent, not "")."""
    age = _text(form, "child_age_estimate")
    return {
        "schema_version": 1,
        "external_id": f"console-{_text(form, 'submission_id') or uuid.uuid4()}",
        "channel": _text(form, "channel"),
        "received_at": (now or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "reporter": {
            "role": _text(form, "reporter_role"),
            "name": _text(form, "reporter_name"),
            "phone": _text(form, "reporter_phone"),
            "anonymous": form.get("reporter_anonymous") == "on",
        },
        "child": {
            "name": _text(form, "child_name"),
            "national_id": _text(form, "child_national_id"),
            "sex": _text(form, "child_sex"),
            "birth_date": _text(form, "child_birth_date"),
            "age_estimate": int(age) if age and age.isdigit() else age,
            "address": _text(form, "child_address"),
            "school": _text(form, "child_school"),
            # A child nobody can name is described instead (hotline contract 1.8).
            "appearance": _text(form, "child_appearance"),
            "place_seen": _text(form, "child_place_seen"),
        },
        "jurisdiction": _text(form, "jurisdiction"),
        "categories": list(categories),
        "indicators": list(indicators),
        "narrative": form.get("narrative") or "",
    }


def field_errors(detail: Any) -> dict[str, str]:
    """Intake's 422 `detail` as {form field: kind of mistake}, every field at once (form_errors.py)."""
    return errors_at(detail, FIELD_OF_LOC)
