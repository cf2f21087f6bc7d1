"""What a person may do on a case now, for a page to offer exactly that: casework's own actions by
the very rules its decisions apply (decide.py's `require_*`), the other services' by the role sets
their routes take (shared/auth.py) and the case's state. Pure: no framework, no database."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum

from services.casework.decide import (
    Approval,
    CaseFile,
    NotYours,
    Refused,
    require_alone,
    require_asker,
    require_direct_reopening,
    require_open,
    require_reopen_request,
    require_reopenable,
    require_reopener,
    require_reviewable,
    require_reviewer,
)
from shared.auth import CASE_SIDE, SUPERVISORS, Principal


class CaseAction(StrEnum):
    """An action on a case, named by what the person does (each service still refuses what its rules
    do not allow: this list only keeps a page from offering it)."""

    assign = "assign"  # name the caseworker who owns it (casework)
    review = "review"  # the written review (casework)
    ask_close = "ask_close"  # requests a supervisor approves (casework)
    ask_screen_out = "ask_screen_out"
    ask_transfer = "ask_transfer"
    reopen = "reopen"  # reopen a closed case with a reason (casework)
    ask_reopen = "ask_reopen"  # a red one: asked of a supervisor (casework)
    withdraw_referrals = "withdraw_referrals"  # end an agency's open referral with a reason (referral)
    record_visit = "record_visit"  # a follow-up visit (follow-up)
    record_needs = "record_needs"  # home visit, assessment report, assistance plan (assessment)
    override_grade = "override_grade"  # set the grade with a reason (assessment)
    read_child = "read_child"  # the child's details and information archive, with a purpose (intake)


def _passes(*rules: Callable[[], None]) -> bool:
    try:
        for rule in rules:
            rule()
    except (Refused, NotYours):
        return False
    return True


def actions(case: CaseFile, principal: Principal, pending: Iterable[Approval]) -> list[CaseAction]:
    """The actions `principal` may take on `case` as it stands, given the case's requests (`pending`).

    What depends on what the person then chooses stays the API's answer, in words: a closure's
    reason may need a recent visit, and a request to close or screen out is refused while an
    agency holds an open referral (the page offers each referral's withdrawal beside it); a closed
    case whose child's reports a link moved to a case that is open now is refused reopening naming it."""
    if case.jurisdiction is None or not principal.can_see(case.jurisdiction):
        return []
    pending = [approval for approval in pending if approval.state == "pending"]
    me, supervisor, works = principal.subject, principal.role in SUPERVISORS, principal.role in CASE_SIDE
    is_open = _passes(lambda: require_open(case))

    def asks(kind: str, state_rule: Callable[[CaseFile], None]) -> bool:
        return works and _passes(
            lambda: require_asker(case, kind, by=me, supervisor=supervisor),
            lambda: state_rule(case),
            lambda: require_alone(kind, pending),
        )

    allowed = {
        CaseAction.assign: supervisor and is_open,
        CaseAction.review: works
        and _passes(
            lambda: require_reviewable(case), lambda: require_reviewer(case, by=me, supervisor=supervisor)
        ),
        CaseAction.ask_close: asks("close", require_open),
        CaseAction.ask_screen_out: asks("screen_out", require_reviewable),
        CaseAction.ask_transfer: asks("transfer", require_open),
        CaseAction.reopen: works
        and _passes(
            lambda: require_reopenable(case),
            lambda: require_reopener(case, by=me, supervisor=supervisor),
            lambda: require_direct_reopening(case, pending, supervisor=supervisor),
        ),
        CaseAction.ask_reopen: asks("reopen", require_reopen_request),
        CaseAction.withdraw_referrals: works and is_open,
        # Follow-up keeps a visit plan once the case is graded.
        CaseAction.record_visit: works and is_open and case.risk_level is not None,
        CaseAction.record_needs: works and is_open,
        CaseAction.override_grade: supervisor and is_open,
        CaseAction.read_child: works,
    }
    return [action for action, may in allowed.items() if may]
