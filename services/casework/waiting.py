"""What waits for a caseworker or a supervisor, as the counts a page's header shows: each one the
worklist's own filter (so a count and the list it leads to agree), or the pending requests a
supervisor decides. Pure: no framework, no database."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from shared.contracts.vocabulary import RiskLevel, Role

WaitingKind = Literal["new_red", "assigned_to_me", "approvals", "overdue"]


@dataclass(frozen=True)
class Waiting:
    """One count: of the open cases the worklist's `filters` (GET /v1/cases) find, or — `filters`
    None — of the pending requests (GET /v1/approvals)."""

    kind: WaitingKind
    filters: Mapping[str, Any] | None = field(default=None)


# Red cases whose written review is not recorded yet: the supervisor's first decision, due within hours.
NEW_RED = Waiting("new_red", MappingProxyType({"grade": (RiskLevel.red,), "reviewed": False}))
APPROVALS = Waiting("approvals")
WAITING = MappingProxyType(
    {
        Role.caseworker: (
            NEW_RED,
            Waiting("assigned_to_me", MappingProxyType({"owner": "me"})),
            Waiting("overdue", MappingProxyType({"owner": "me", "overdue": True})),
        ),
        Role.supervisor: (NEW_RED, APPROVALS, Waiting("overdue", MappingProxyType({"overdue": True}))),
    }
)


def waiting_for(role: Role) -> tuple[Waiting, ...]:
    """The counts a person of `role` is shown (none for the roles that work no caseload)."""
    return WAITING.get(role, ())


def as_query(filters: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """A worklist filter as the query string GET /v1/cases takes (what a link to the list carries)."""

    def text(value: Any) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    return {
        name: [text(v) for v in value] if isinstance(value, tuple | list) else text(value)
        for name, value in filters.items()
    }
