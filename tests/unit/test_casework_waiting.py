"""What waits for a person (the header's counts): a caseworker is shown new red cases, theirs and
their overdue ones; a supervisor new red cases, requests to decide and the territory's overdue
ones; each count is the worklist's own filter, written as the query that lists the same cases."""

from __future__ import annotations

import inspect

import pytest

from services.casework.api import _filters, list_cases
from services.casework.waiting import APPROVALS, as_query, waiting_for
from shared.contracts.vocabulary import Role


def test_a_caseworker_and_a_supervisor_are_shown_what_waits_for_them() -> None:
    assert [w.kind for w in waiting_for(Role.caseworker)] == ["new_red", "assigned_to_me", "overdue"]
    assert [w.kind for w in waiting_for(Role.supervisor)] == ["new_red", "approvals", "overdue"]
    overdue = {w.kind: w for w in waiting_for(Role.caseworker)}["overdue"]
    assert as_query(overdue.filters) == {"owner": "me", "overdue": "true"}, "a caseworker's own overdue cases"
    assert APPROVALS in waiting_for(Role.supervisor) and APPROVALS.filters is None


@pytest.mark.parametrize(
    "role", [Role.hotline, Role.reporter, Role.agency_officer, Role.operator, Role.auditor]
)
def test_the_roles_that_work_no_caseload_are_shown_nothing(role: Role) -> None:
    assert waiting_for(role) == ()


def test_new_red_cases_are_the_red_ones_not_reviewed_yet_as_the_worklist_query_says_it() -> None:
    (new_red, *_) = waiting_for(Role.supervisor)
    assert as_query(new_red.filters) == {"grade": ["red"], "reviewed": "false"}


def test_every_count_is_a_filter_the_worklist_takes() -> None:
    """A count's filter names only the worklist's own parameters, so the list a count links to
    shows the very cases it counted."""
    takes = set(inspect.signature(_filters).parameters) & set(inspect.signature(list_cases).parameters)
    for role in Role:
        for waiting in waiting_for(role):
            assert waiting.filters is None or set(waiting.filters) <= takes, (role, waiting)
