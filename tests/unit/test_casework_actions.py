"""What a person may do on a case (`actions`): for every role and every case state that matters,
casework's own actions are offered exactly when its decisions accept them — the same rules, so a
page never offers what the API refuses nor hides what it allows — and the other services' actions
follow their roles and the case's state."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.casework.actions import CaseAction, actions
from services.casework.decide import (
    Approval,
    CaseFile,
    CaseState,
    DirectoryEntry,
    NotYours,
    Refused,
    assigned,
    reopening,
    requested,
    reviewed,
)
from services.casework.policy import load_policy
from shared.auth import Principal
from shared.contracts.vocabulary import Role

NOW = datetime(2026, 12, 5, 9, tzinfo=UTC)
COUNTY, ELSEWHERE = "140402", "140403001001"
VILLAGE = "140402001001"
ME, COLLEAGUE = "u-me", "u-colleague"
PROVIDER = "6f0e8d4a-1c2b-4d3e-9f00-000000000001"  # a contracted organisation
POLICY = load_policy()


def _principal(role: Role, *, jurisdiction: str = COUNTY) -> Principal:
    agency = "police" if role == Role.agency_officer else None
    return Principal(
        subject=ME,
        role=role,
        agency=agency,
        provider=PROVIDER if role == Role.provider_worker else None,
        jurisdiction="" if role in (Role.hotline, Role.operator, Role.auditor) else jurisdiction,
    )


def _case(**changes) -> CaseFile:
    base = CaseFile(
        case_id=uuid.uuid4(),
        last_activity_at=NOW - timedelta(hours=1),
        jurisdiction=VILLAGE,
        risk_level="red",
        owner_node="140402001000",
        reported_at=NOW - timedelta(hours=2),
        last_visited_at=NOW - timedelta(days=1),
    )
    return dataclasses.replace(base, **changes)


def _request(case: CaseFile, kind: str) -> Approval:
    return Approval(
        approval_id=uuid.uuid4(),
        case_id=case.case_id,
        kind=kind,
        reason="unfounded",
        jurisdiction=case.jurisdiction,
        requested_by=ME,
        requested_at=NOW,
    )


def _accepted(decision) -> bool:
    try:
        decision()
    except (Refused, NotYours):
        return False
    return True


# Every state of a case that changes what may be done on it.
CLOSED = {
    "state": "closed",
    "stage": "closed",
    "closed_at": NOW - timedelta(days=1),
    "closed_reason": "moved_away",
}
STATES = {
    "open": {},
    "closed": CLOSED,
    "not graded": {"risk_level": None},
    "reviewed": {"reviewed_at": NOW - timedelta(minutes=30)},
    "blue": {"risk_level": "blue"},
    "closed orange": {**CLOSED, "risk_level": "orange"},
    "orange, red when it closed": {**CLOSED, "risk_level": "orange", "closed_risk_level": "red"},
    "closed as a duplicate": {
        **CLOSED,
        "risk_level": "blue",
        "closed_reason": "duplicate",
        "merged_into": uuid.uuid4(),
    },
    "merged while closed": {**CLOSED, "risk_level": "blue", "merged_into": uuid.uuid4()},
}
OWNERS = {"mine": ME, "a colleague's": COLLEAGUE, "nobody's": None}
PENDING = {
    "nothing pending": (),
    "close pending": ("close",),
    "screen-out pending": ("screen_out",),
    "transfer pending": ("transfer",),
    "reopening pending": ("reopen",),
}
GRID = list(itertools.product(Role, STATES, OWNERS, PENDING))


@pytest.mark.parametrize(("role", "state", "owner", "pending"), GRID)
def test_casework_offers_its_actions_exactly_when_its_decisions_accept_them(
    role, state, owner, pending
) -> None:
    case = _case(owner_ref=OWNERS[owner], **STATES[state])
    requests = [_request(case, kind) for kind in PENDING[pending]]
    principal = _principal(role)
    offered = set(actions(case, principal, requests))
    works, supervisor = role in (Role.caseworker, Role.supervisor), role == Role.supervisor
    whole = CaseState(case)

    def asked(kind: str, reason: str, to: str | None = None) -> bool:
        return works and _accepted(
            lambda: requested(
                whole,
                kind,
                reason,
                by=ME,
                pending=requests,
                policy=POLICY,
                now=NOW,
                supervisor=supervisor,
                to_jurisdiction=to,
            )
        )

    assert (CaseAction.review in offered) == (
        works
        and _accepted(lambda: reviewed(whole, "screened_in", None, by=ME, supervisor=supervisor, now=NOW))
    )
    assert (CaseAction.assign in offered) == (
        supervisor
        and _accepted(
            lambda: assigned(
                case,
                COLLEAGUE,
                supervisor=ME,
                reason="workload",
                now=NOW,
                entry=DirectoryEntry(COLLEAGUE, "caseworker", case.jurisdiction),
            )
        )
    )
    # A reason the closure rules accept of any case with no open referral and a recent visit.
    assert (CaseAction.ask_close in offered) == asked("close", "moved_away")
    assert (CaseAction.ask_screen_out in offered) == asked("screen_out", "unfounded")
    assert (CaseAction.ask_transfer in offered) == asked("transfer", "family_moved", "140403001001")
    assert (CaseAction.reopen in offered) == (
        works
        and _accepted(
            lambda: reopening(
                whole, "new_risk", by=ME, supervisor=supervisor, pending=requests, policy=POLICY, now=NOW
            )
        )
    )
    assert (CaseAction.ask_reopen in offered) == asked("reopen", "new_risk")


@pytest.mark.parametrize("role", list(Role))
def test_the_other_services_actions_follow_their_roles_and_the_cases_state(role: Role) -> None:
    open_case, closed_case = _case(owner_ref=COLLEAGUE), _case(owner_ref=COLLEAGUE, state="closed")
    on_open = set(actions(open_case, _principal(role), []))
    on_closed = set(actions(closed_case, _principal(role), []))
    works = role in (Role.caseworker, Role.supervisor)
    for action in (CaseAction.withdraw_referrals, CaseAction.record_visit, CaseAction.record_needs):
        assert (action in on_open) == works and action not in on_closed, action
    assert (CaseAction.override_grade in on_open) == (role == Role.supervisor)
    assert CaseAction.override_grade not in on_closed
    assert (CaseAction.read_child in on_open) == works and (CaseAction.read_child in on_closed) == works, (
        "a closed case's child is still read, with a purpose"
    )


def test_a_caseworker_on_their_own_new_red_case_reviews_and_asks() -> None:
    case = _case(owner_ref=ME)
    assert actions(case, _principal(Role.caseworker), []) == [
        CaseAction.review,
        CaseAction.ask_close,
        CaseAction.ask_screen_out,
        CaseAction.ask_transfer,
        CaseAction.withdraw_referrals,
        CaseAction.record_visit,
        CaseAction.record_needs,
        CaseAction.read_child,
    ]


def test_a_colleagues_case_is_worked_but_not_reviewed_nor_asked_about() -> None:
    offered = actions(_case(owner_ref=COLLEAGUE), _principal(Role.caseworker), [])
    assert not {
        CaseAction.review,
        CaseAction.ask_close,
        CaseAction.ask_screen_out,
        CaseAction.ask_transfer,
        CaseAction.assign,
        CaseAction.override_grade,
    } & set(offered)


def test_a_supervisor_assigns_reviews_sets_the_grade_and_transfers_but_asks_nothing_else() -> None:
    offered = set(actions(_case(owner_ref=COLLEAGUE), _principal(Role.supervisor), []))
    assert {
        CaseAction.assign,
        CaseAction.review,
        CaseAction.override_grade,
        CaseAction.ask_transfer,
    } <= offered
    assert not {CaseAction.ask_close, CaseAction.ask_screen_out} & offered, "a supervisor decides, not asks"


def test_a_pending_request_hides_a_second_of_its_kind_and_a_transfer_waits_alone() -> None:
    case = _case(owner_ref=ME)
    close_pending = set(actions(case, _principal(Role.caseworker), [_request(case, "close")]))
    assert CaseAction.ask_close not in close_pending and CaseAction.ask_screen_out in close_pending
    assert CaseAction.ask_transfer not in close_pending
    decided = dataclasses.replace(_request(case, "close"), state="rejected")
    assert CaseAction.ask_close in actions(case, _principal(Role.caseworker), [decided]), (
        "only pending ones count"
    )


def test_a_closed_case_is_reopened_by_its_owner_a_red_one_asked_for_and_a_supervisor_reopens_any() -> None:
    red, orange = _case(owner_ref=ME, **CLOSED), _case(owner_ref=ME, **{**CLOSED, "risk_level": "orange"})
    caseworker, supervisor = _principal(Role.caseworker), _principal(Role.supervisor)
    reopens = {CaseAction.reopen, CaseAction.ask_reopen}
    assert reopens & set(actions(red, caseworker, [])) == {CaseAction.ask_reopen}
    assert reopens & set(actions(orange, caseworker, [])) == {CaseAction.reopen}
    colleagues = dataclasses.replace(red, owner_ref=COLLEAGUE)
    assert reopens & set(actions(colleagues, supervisor, [])) == {CaseAction.reopen}, "the approval is theirs"
    assert not reopens & set(actions(red, caseworker, [_request(red, "reopen")])), "asked once"
    assert not reopens & set(actions(_case(owner_ref=ME), supervisor, [])), "an open case"


def test_nothing_on_a_case_outside_the_persons_territory_nor_for_readers_who_work_none() -> None:
    elsewhere = _case(owner_ref=ME, jurisdiction=ELSEWHERE)
    assert actions(elsewhere, _principal(Role.supervisor), []) == []
    for role in (Role.operator, Role.auditor):
        assert actions(_case(owner_ref=ME), _principal(role), []) == []
    assert actions(_case(jurisdiction=None), _principal(Role.supervisor), []) == []
