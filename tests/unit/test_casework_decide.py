"""Casework's pure decisions: a case owned by its township station the moment its territory is
known (once, whatever topic says it first), merged the same whichever order its services' events
arrive in, reopened by a later report, what is due next; and a supervisor's assignment."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.casework.decide import (
    NEVER,
    AssignmentRefused,
    CaseFile,
    CaseState,
    Decision,
    ReasonRequired,
    UnexpectedEvent,
    assigned,
    decide,
    station_of,
)
from services.casework.policy import load_policy
from shared.contracts.envelope import EventPayload
from shared.contracts.events import (
    CaseAssessed,
    CaseAssigned,
    CaseClosed,
    CaseReassessmentRequested,
    CaseReported,
    FollowupScheduled,
    ReferralCreated,
    ReferralStatusChanged,
)
from shared.contracts.vocabulary import Agency, Category, Channel, Indicator, ReferralState, RiskLevel, Stage

POLICY = load_policy()
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
VILLAGE, TOWNSHIP = "140402001001", "140402001000"
CASE = uuid.UUID("00000000-0000-4000-8000-000000000001")
CHILD = uuid.UUID("00000000-0000-4000-8000-000000000002")


def report(at: datetime = NOW, category: Category = Category.abuse) -> CaseReported:
    return CaseReported(case_id=CASE, report_id=uuid.uuid4(), child_ref=CHILD, external_id=None,
                        channel=Channel.hotline, jurisdiction=VILLAGE, age_years=9, categories=[category],
                        indicators=[Indicator.immediate_danger], earlier_reports=0, reported_at=at)


def grade(level: RiskLevel = RiskLevel.red, stage: Stage = Stage.written_review) -> CaseAssessed:
    return CaseAssessed(case_id=CASE, assessment_id=uuid.uuid4(), jurisdiction=VILLAGE, categories=[Category.abuse],
                        risk_level=level, initial_risk_level=level, overridden=False, score=9, factors=[],
                        rule_set_version="test", needs=[], emergency=level == RiskLevel.red,
                        response_due_at=NOW + timedelta(hours=24), stage=stage)


REFERRAL = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


def referral(ack_due: datetime = NOW + timedelta(hours=1)) -> ReferralCreated:
    return ReferralCreated(referral_id=REFERRAL, case_id=CASE, agency=Agency.police, risk_level=RiskLevel.red,
                           emergency=True, categories=[Category.abuse], needs=[], jurisdiction=VILLAGE,
                           ack_due_at=ack_due, details_url="http://referral/v1/referrals/x", stage=Stage.written_review)


def acknowledged() -> ReferralStatusChanged:
    return ReferralStatusChanged(referral_id=REFERRAL, case_id=CASE, agency=Agency.police,
                                 state=ReferralState.acknowledged, changed_at=NOW, stage=Stage.services)


def run(events: list[EventPayload], state: CaseState | None = None,
        at: datetime = NOW) -> tuple[CaseState, list[EventPayload]]:
    state = state or CaseState(None)
    emitted: list[EventPayload] = []
    for event in events:
        decision = decide(state, event, POLICY, at)
        state = decision.state
        emitted += decision.events
    return state, emitted


def test_a_reported_case_is_owned_by_its_township_station_at_once() -> None:
    state, emitted = run([report()])
    assert (state.case.owner_node, state.case.owner_ref, state.case.assigned_at) == (TOWNSHIP, None, NOW)
    (owned,) = emitted
    assert isinstance(owned, CaseAssigned)
    assert (owned.owner_node, owned.owner_ref, owned.assigned_by, owned.jurisdiction) == (TOWNSHIP, None, None, VILLAGE)
    assert state.case.stage == Stage.screening and state.case.urgency == 3, "not graded yet: after every grade"
    assert state.case.sort_due_at == NEVER and state.case.next_due_at is None


def test_a_graded_red_case_is_due_for_review_within_four_hours_and_sorts_first() -> None:
    state, emitted = run([report(), grade(RiskLevel.red)])
    case = state.case
    assert len(emitted) == 1, "owned once"
    assert (case.risk_level, case.stage, case.urgency) == ("red", Stage.written_review, 0)
    assert case.review_due_at == NOW + timedelta(hours=4)
    assert (case.next_due_at, case.next_due_kind, case.sort_due_at) == (NOW + timedelta(hours=4), "review",
                                                                        NOW + timedelta(hours=4))
    blue, _ = run([report(), grade(RiskLevel.blue)])
    assert blue.case.review_due_at == NOW + timedelta(hours=72) and blue.case.urgency == 2


def test_a_graver_regrade_before_the_review_brings_its_deadline_forward() -> None:
    state, _ = run([report(), grade(RiskLevel.blue)])
    later = decide(state, grade(RiskLevel.red), POLICY, NOW + timedelta(hours=1)).state
    assert later.case.review_due_at == NOW + timedelta(hours=4), "counted from the first grade"


def test_the_case_is_the_same_whichever_order_its_services_events_arrive_in() -> None:
    events = [report(), grade(), referral(), acknowledged(),
              FollowupScheduled(case_id=CASE, plan_id=uuid.uuid4(), risk_level=RiskLevel.red, cadence_days=7,
                                next_visit_due_at=NOW + timedelta(days=1))]
    outcomes = set()
    for order in itertools.permutations(events):
        state, emitted = run(list(order))
        assert [type(e) for e in emitted] == [CaseAssigned], "owned exactly once, by whichever event came first"
        outcomes.add((dataclasses.replace(state.case, last_activity_at=NOW, assigned_at=None),
                      tuple(sorted(state.referrals.items()))))
    (case, referrals), = outcomes
    assert (case.child_ref, case.stage, case.open_referrals) == (CHILD, Stage.services, 1)
    assert referrals[0][1].state == ReferralState.acknowledged
    # The referral is acknowledged, so the next thing due is the review, then the visit.
    assert (case.next_due_kind, case.next_due_at) == ("review", NOW + timedelta(hours=4))


def test_an_unacknowledged_referral_due_first_is_what_is_due_next() -> None:
    state, _ = run([report(), grade(), referral(ack_due=NOW + timedelta(minutes=30))])
    assert (state.case.next_due_kind, state.case.next_due_at) == ("referral", NOW + timedelta(minutes=30))
    assert state.case.open_referrals == 1


def test_a_closure_closes_and_a_later_report_reopens_the_case_for_review() -> None:
    state, _ = run([report(), grade(RiskLevel.blue)])
    closed, _ = run([CaseClosed(case_id=CASE, reason="risk_resolved", closed_at=NOW + timedelta(days=30))], state)
    assert (closed.case.state, closed.case.stage, closed.case.closed_reason) == ("closed", Stage.closed,
                                                                                 "risk_resolved")
    assert closed.case.next_due_at is None, "nothing is due on a closed case"
    reopened, emitted = run([report(at=NOW + timedelta(days=40), category=Category.left_behind)], closed)
    assert (reopened.case.state, reopened.case.stage) == ("open", Stage.screening)
    assert reopened.case.categories == ("abuse", "left_behind")
    assert emitted == [], "the case keeps its owner"


def test_a_closure_older_than_the_latest_report_does_not_close_the_case() -> None:
    state, _ = run([report(at=NOW + timedelta(days=40)), grade()])
    after, _ = run([CaseClosed(case_id=CASE, reason="risk_resolved", closed_at=NOW + timedelta(days=30))], state)
    assert after.case.state == "open"


def test_a_case_above_township_level_is_owned_by_its_own_node() -> None:
    assert station_of("140402000000") == "140402000000"
    assert station_of(VILLAGE) == TOWNSHIP


def test_an_event_casework_has_no_rule_for_is_refused() -> None:
    asked = CaseReassessmentRequested(case_id=CASE, visit_id=None, indicators=[], unmet_needs=[],
                                      reason="visit_found_new_risk", requested_at=NOW)
    with pytest.raises(UnexpectedEvent):
        decide(CaseState(None), asked, POLICY, NOW)


def _owned_case() -> CaseFile:
    state, _ = run([report(), grade()])
    return state.case


def test_a_supervisor_names_the_owner_and_replacing_one_needs_a_reason() -> None:
    case = _owned_case()
    first = assigned(case, "cw-1", supervisor="sup-1", reason=None, now=NOW)
    (event,) = first.events
    assert (event.owner_ref, event.assigned_by, event.previous_owner_ref, event.reason) == ("cw-1", "sup-1", None, None)
    assert first.state.case.owner_ref == "cw-1" and first.state.case.owner_node == TOWNSHIP
    assert assigned(first.state.case, "cw-1", supervisor="sup-1", reason=None, now=NOW) == \
        Decision(CaseState(first.state.case)), "naming the same owner again changes nothing"
    with pytest.raises(ReasonRequired):
        assigned(first.state.case, "cw-2", supervisor="sup-1", reason=None, now=NOW)
    second = assigned(first.state.case, "cw-2", supervisor="sup-1", reason="workload", now=NOW)
    assert (second.events[0].previous_owner_ref, second.events[0].reason) == ("cw-1", "workload")


def test_a_closed_case_cannot_be_assigned() -> None:
    case = dataclasses.replace(_owned_case(), state="closed")
    with pytest.raises(AssignmentRefused):
        assigned(case, "cw-1", supervisor="sup-1", reason=None, now=NOW)
