"""Frozen dataclasses as table rows."""

from __future__ import annotations

import dataclasses
from typing import Any


def row_of(record: Any) -> dict[str, Any]:
    """A dataclass's fields as the dict a bulk INSERT or UPDATE takes. Shallow, unlike
    dataclasses.asdict, whose deep copy of every UUID and datetime dominated a batch's profile;
    the records are frozen and their values are written, never changed."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
