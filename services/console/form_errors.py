"""A service's 422 answer as what a form shows: one mistake beside each field it names, every field
at once, each as a kind of mistake the catalogs say in words (`error:<kind>`). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# A message of a service's own check, by the words it is known by, as the kind of mistake people are told.
KINDS_BY_MESSAGE = (
    ("future", "future"),
    ("after received_at", "future"),
    ("18 or older", "adult"),
    ("approximate age", "age_needed"),
    ("at most 4000", "too_long"),
    ("not a phone number", "phone"),
    ("reporter_phone alone", "phone_alone"),
)


def field_errors(detail: Any, field_of_loc: Mapping[tuple[str, ...], str]) -> dict[str, str]:
    """`detail` (a list of {loc, msg, type}) as {form field: kind of mistake}, the first of each field;
    a mistake the form has no field for is kept under `form`."""
    errors: dict[str, str] = {}
    for error in detail if isinstance(detail, list) else []:
        loc = tuple(part for part in error.get("loc", ()) if part != "body" and not isinstance(part, int))
        placed = (field_of_loc[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in field_of_loc)
        field = next(placed, "form")
        errors.setdefault(field, kind_of(error.get("type", ""), error.get("msg", "")))
    return errors


def kind_of(error_type: str, message: str = "") -> str:
    """The few kinds of mistake a person is told about: by the service's own words first (a date in
    the future is a value error whose message says so), else by the validator's type."""
    for words, kind in KINDS_BY_MESSAGE:
        if words in message:
            return kind
    if error_type in ("missing", "too_short", "list_too_short"):
        return "missing"
    if error_type.startswith("string_too_long") or error_type == "too_long":
        return "too_long"
    if error_type in ("enum", "literal_error"):
        return "choice"
    if error_type.startswith(("date", "datetime", "timezone")):
        return "date"
    if error_type.startswith(("int", "greater_than", "less_than")):
        return "number"
    return "invalid"
