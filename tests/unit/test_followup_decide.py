"""Follow-up's pure decisions: a visit plan per graded case at its grade's cadence (several grades
of one case in a row, as a batch brings them), referral progress moving the stage, the sweep's
announcements once each, and a visit's outcome up to the case's closure."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.followup.decide import (
    Plan,
    UnexpectedEvent,
    Visit,
    announced,
    decide,
    latest_referral_states,
    referral_changed,
    scheduled,
    visited,
)
from services.followup.schedule import load_policy
from shared.contracts.events import (
    CaseAssessed,
    CaseClosed,
    CaseReassessmentRequested,
    CaseReopened,
    FollowupClosureRuleMet,
    FollowupDue,
    FollowupOverdue,
    FollowupScheduled,
    FollowupVisitRecorded,
    ReferralStatusChanged,
)
from shared.contracts.vocabulary import (
    Agency,
    Category,
    Indicator,
    Need,
    ReferralState,
    ReopenReason,
    RiskLevel,
    Stage,
)

POLICY = load_policy()
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
VILLAGE = "140402001001"
CADENCE = {RiskLevel.red: 7, RiskLevel.orange: 14, RiskLevel.blue: 30}


def graded(
    case_id: uuid.UUID,
    level: RiskLevel,
    *,
    due: datetime = NOW + timedelta(days=3),
    stage: Stage = Stage.written_review,
) -> CaseAssessed:
    return CaseAssessed(
        case_id=case_id,
        assessment_id=uuid.uuid4(),
        jurisdiction=VILLAGE,
        categories=[Category.left_behind],
        risk_level=level,
        initial_risk_level=level,
        overridden=False,
        score=1,
        factors=[],
        rule_set_version="test",
        needs=[],
        emergency=False,
        response_due_at=due,
        stage=stage,
    )


def status(case_id: uuid.UUID, referral_id: uuid.UUID, state: ReferralState, stage: Stage = Stage.services):
    done = state == ReferralState.done
    return ReferralStatusChanged(
        referral_id=referral_id,
        case_id=case_id,
        agency=Agency.education,
        state=state,
        outcome="successful" if done else None,
        reason="not_ours" if state == ReferralState.declined else None,
        changed_at=NOW,
        stage=stage,
    )


def plan_of(level: RiskLevel, **changes) -> Plan:
    case = uuid.uuid4()
    decision = scheduled(None, graded(case, level), POLICY, NOW)
    return dataclasses.replace(decision.plan, **changes)


def visit(day: int, *, indicators=(), needs_unmet=()) -> Visit:
    return Visit(
        visit_id=uuid.uuid4(),
        visited_at=NOW + timedelta(days=day),
        visitor_ref="cw-1",
        indicators=tuple(indicators),
        needs_unmet=tuple(needs_unmet),
    )


# --- plans from grades ------------------------------------------------------------------------


def test_a_first_grade_makes_an_open_plan_whose_first_visit_is_due_at_the_response_deadline() -> None:
    case, due = uuid.uuid4(), NOW + timedelta(hours=24)
    decision = scheduled(None, graded(case, RiskLevel.red, due=due), POLICY, NOW)
    plan = decision.plan
    assert (plan.case_id, plan.state, plan.risk_level, plan.cadence_days) == (case, "open", "red", 7)
    assert plan.next_visit_due_at == plan.response_due_at == due and plan.stage == "written_review"
    (event,) = decision.events
    assert isinstance(event, FollowupScheduled)
    assert (event.plan_id, event.cadence_days, event.next_visit_due_at) == (plan.plan_id, 7, due)


def test_several_grades_of_one_case_in_a_row_each_reschedule_the_same_plan_in_turn() -> None:
    case = uuid.uuid4()
    plan, cadences = None, []
    for level in (RiskLevel.blue, RiskLevel.orange, RiskLevel.red):
        decision = decide(plan, graded(case, level), POLICY, NOW)
        plan = decision.plan
        cadences.append([e.cadence_days for e in decision.events])
        assert decision.events[0].plan_id == plan.plan_id
    assert cadences == [[30], [14], [7]]
    assert plan.risk_level == "red"


def test_a_plan_keeps_its_id_across_regrades() -> None:
    first = plan_of(RiskLevel.blue)
    again = scheduled(first, graded(first.case_id, RiskLevel.red), POLICY, NOW).plan
    assert again.plan_id == first.plan_id


def test_a_grade_that_changes_nothing_about_the_visits_announces_nothing() -> None:
    plan = plan_of(RiskLevel.orange)
    same = graded(plan.case_id, RiskLevel.orange, due=plan.response_due_at, stage=Stage.plan)
    decision = scheduled(plan, same, POLICY, NOW + timedelta(hours=1))
    assert decision.events == () and decision.plan == plan
    assert decision.plan.stage == "written_review", "an unchanged plan is left as it was"


def test_after_a_visit_a_regrade_counts_the_new_cadence_from_the_last_visit() -> None:
    last = NOW + timedelta(days=2)
    plan = plan_of(RiskLevel.blue, last_visit_at=last, next_visit_due_at=last + timedelta(days=30))
    decision = scheduled(plan, graded(plan.case_id, RiskLevel.red), POLICY, NOW)
    assert decision.plan.next_visit_due_at == last + timedelta(days=7) == decision.events[0].next_visit_due_at
    assert decision.plan.last_visit_at == last


def test_a_grade_reopens_a_closed_plan() -> None:
    plan = plan_of(RiskLevel.blue, state="closed", stage="closed")
    decision = scheduled(plan, graded(plan.case_id, RiskLevel.blue, due=plan.response_due_at), POLICY, NOW)
    assert decision.plan.state == "open" and len(decision.events) == 1
    assert decision.plan.stage == "closed", "the stage only moves forward"


def test_a_territorys_own_cadence_is_used() -> None:
    policy = POLICY.model_copy(update={"cadence_days_by_territory": {"1404": {RiskLevel.blue: 45}}})
    decision = scheduled(None, graded(uuid.uuid4(), RiskLevel.blue), policy, NOW)
    assert decision.plan.cadence_days == 45


def test_an_event_follow_up_has_no_rule_for_is_refused() -> None:
    its_own = FollowupDue(case_id=uuid.uuid4(), plan_id=uuid.uuid4(), visit_due_at=NOW, jurisdiction=VILLAGE)
    with pytest.raises(UnexpectedEvent, match="followup.due"):
        decide(None, its_own, POLICY, NOW)


# --- the case's closure and a person's reopening ---------------------------------------------------


def reopening(case_id: uuid.UUID, at: datetime, *, closed_at: datetime = NOW) -> CaseReopened:
    return CaseReopened(
        case_id=case_id,
        reason=ReopenReason.new_risk,
        reopened_by="cw-1",
        approved_by=None,
        risk_level=RiskLevel.orange,
        stage=Stage.services,
        closed_at=closed_at,
        reopened_at=at,
    )


def test_a_closed_case_is_visited_no_more_and_a_reopened_one_again() -> None:
    plan = plan_of(RiskLevel.orange, last_visit_at=NOW - timedelta(days=3))
    closed = decide(
        plan, CaseClosed(case_id=plan.case_id, reason="risk_resolved", closed_at=NOW), POLICY, NOW
    )
    assert (closed.plan.state, closed.plan.stage, closed.events) == ("closed", "closed", ())
    later = NOW + timedelta(days=20)
    opened = decide(closed.plan, reopening(plan.case_id, later), POLICY, later)
    assert (opened.plan.state, opened.plan.stage) == ("open", "services")
    (told,) = opened.events
    assert isinstance(told, FollowupScheduled)
    assert told.next_visit_due_at == NOW - timedelta(days=3) + timedelta(days=CADENCE[RiskLevel.orange]), (
        "a cadence after the last visit: overdue at once when that is long past"
    )
    assert decide(opened.plan, reopening(plan.case_id, later), POLICY, later).events == (), "heard twice"


def test_closures_and_reopenings_read_in_either_order_agree() -> None:
    """Two topics, two orders: a reopening read before the closure it reverses leaves the plan open."""
    plan = plan_of(RiskLevel.orange)
    closure = CaseClosed(case_id=plan.case_id, reason="risk_resolved", closed_at=NOW)
    back = reopening(plan.case_id, NOW + timedelta(hours=1))
    first = decide(plan, back, POLICY, NOW)
    assert first.plan.state == "open" and first.events == ()
    assert decide(first.plan, closure, POLICY, NOW).plan.state == "open", "a closure the reopening reversed"
    again = CaseClosed(case_id=plan.case_id, reason="risk_resolved", closed_at=NOW + timedelta(hours=2))
    assert decide(first.plan, again, POLICY, NOW).plan.state == "closed", "a later closure closes it"
    assert decide(None, closure, POLICY, NOW).plan is None, "no plan, nothing to close"


# --- referral progress ---------------------------------------------------------------------------


def test_referral_progress_moves_the_stage_forward_only_and_needs_a_plan() -> None:
    case, referral = uuid.uuid4(), uuid.uuid4()
    unplanned = referral_changed(None, status(case, referral, ReferralState.acknowledged), POLICY, NOW)
    assert unplanned.plan is None
    plan = plan_of(RiskLevel.orange)
    moved = referral_changed(plan, status(plan.case_id, referral, ReferralState.acknowledged), POLICY, NOW)
    assert moved.plan.stage == "services" and moved.events == ()
    later = dataclasses.replace(plan, stage="monitoring")
    kept = referral_changed(later, status(plan.case_id, referral, ReferralState.done), POLICY, NOW)
    assert kept.plan.stage == "monitoring"


def test_the_last_state_of_each_referral_wins_in_offset_order() -> None:
    case, first, second = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    changes = [
        status(case, first, ReferralState.acknowledged),
        status(case, second, ReferralState.created),
        status(case, first, ReferralState.done),
        status(case, second, ReferralState.declined),
    ]
    rows = latest_referral_states(changes)
    assert {r["referral_id"]: r["state"] for r in rows} == {first: "done", second: "declined"}
    assert [r["referral_id"] for r in rows] == sorted([first, second]), "rows in a stable lock order"
    assert rows[0]["agency"] == "education" and rows[0]["case_id"] == case


# --- the sweep ----------------------------------------------------------------------------------


def test_a_due_visit_is_announced_once_then_overdue_once() -> None:
    plan = plan_of(RiskLevel.orange)
    due = plan.next_visit_due_at
    first = announced(plan, POLICY, due + timedelta(hours=1))
    assert [type(e) for e in first.events] == [FollowupDue]
    assert announced(first.plan, POLICY, due + timedelta(hours=2)).events == ()
    late = announced(first.plan, POLICY, due + timedelta(hours=25))
    assert [type(e) for e in late.events] == [FollowupOverdue]
    assert late.plan.overdue_announced_for == late.plan.due_announced_for == due
    assert announced(late.plan, POLICY, due + timedelta(hours=26)).events == ()


def test_a_visit_found_long_missed_is_announced_due_and_overdue_at_once() -> None:
    plan = plan_of(RiskLevel.red)
    decision = announced(plan, POLICY, plan.next_visit_due_at + timedelta(days=3))
    assert [type(e) for e in decision.events] == [FollowupDue, FollowupOverdue]
    assert {e.visit_due_at for e in decision.events} == {plan.next_visit_due_at}


# --- visits -------------------------------------------------------------------------------------


def test_a_clean_visit_sets_the_next_one_a_cadence_later_and_starts_monitoring() -> None:
    plan = plan_of(RiskLevel.orange)
    one = visit(1)
    result = visited(plan, one, earlier_visits=[], open_referrals=1, policy=POLICY, now=NOW)
    assert result.plan.last_visit_at == one.visited_at
    assert result.plan.next_visit_due_at == one.visited_at + timedelta(days=14)
    assert result.outcome.next_visit_due_at == result.plan.next_visit_due_at
    assert result.plan.stage == "monitoring"
    (recorded,) = result.events
    assert isinstance(recorded, FollowupVisitRecorded) and recorded.risk_found is False
    assert not result.outcome.closed and not result.outcome.reassessment_requested


def test_a_visit_recorded_late_counts_from_the_latest_visit() -> None:
    plan = plan_of(RiskLevel.red, last_visit_at=NOW + timedelta(days=10))
    result = visited(
        plan,
        visit(3),
        earlier_visits=[(NOW + timedelta(days=10), False)],
        open_referrals=0,
        policy=POLICY,
        now=NOW,
    )
    assert result.plan.next_visit_due_at == NOW + timedelta(days=17)


@pytest.mark.parametrize(
    ("found", "reason"),
    [
        ({"indicators": [Indicator.visible_injury]}, "visit_found_new_risk"),
        ({"needs_unmet": [Need.legal]}, "visit_found_unmet_needs"),
    ],
)
def test_new_risk_or_unmet_needs_go_back_to_assessment_and_never_close(found, reason) -> None:
    plan = plan_of(RiskLevel.blue)
    result = visited(
        plan, visit(1, **found), earlier_visits=[(NOW, False)] * 3, open_referrals=0, policy=POLICY, now=NOW
    )
    request = result.events[1]
    assert isinstance(request, CaseReassessmentRequested) and request.reason == reason
    assert request.visit_id == result.outcome.visit_id and result.outcome.reassessment_requested
    assert not result.outcome.closed and result.plan.state == "open"


def test_two_clean_visits_close_a_blue_case_whose_referrals_are_done() -> None:
    plan = plan_of(RiskLevel.blue)
    result = visited(
        plan,
        visit(31),
        earlier_visits=[(NOW + timedelta(days=1), False)],
        open_referrals=0,
        policy=POLICY,
        now=NOW,
    )
    assert result.outcome.closed and result.outcome.next_visit_due_at is None
    assert (result.plan.state, result.plan.stage) == ("closed", "closed")
    assert (
        isinstance(result.events[-1], FollowupClosureRuleMet) and result.events[0].stage == Stage.monitoring
    )
    assert result.events[-1].risk_level == RiskLevel.blue, (
        "casework closes it: follow-up only says the rule is met"
    )


@pytest.mark.parametrize(
    ("level", "open_referrals", "earlier"),
    [
        (RiskLevel.orange, 0, [(NOW + timedelta(days=1), False)]),
        (RiskLevel.blue, 1, [(NOW + timedelta(days=1), False)]),
        (RiskLevel.blue, 0, []),
        # A risky visit on day 20 is one of the last two.
        (RiskLevel.blue, 0, [(NOW + timedelta(days=1), False), (NOW + timedelta(days=20), True)]),
    ],
    ids=["not-blue", "a-referral-open", "one-visit-only", "a-risky-visit-among-the-last-two"],
)
def test_a_case_stays_open_until_the_closure_rule_holds(level, open_referrals, earlier) -> None:
    result = visited(
        plan_of(level),
        visit(31),
        earlier_visits=earlier,
        open_referrals=open_referrals,
        policy=POLICY,
        now=NOW,
    )
    assert not result.outcome.closed and result.plan.state == "open"
    assert not any(isinstance(e, FollowupClosureRuleMet) for e in result.events)


def test_an_earlier_dated_visit_recorded_now_is_placed_by_when_it_took_place() -> None:
    # A clean visit on day 31, then a clean visit dated day 1 recorded: with a risky one on day 20
    # between them the last two by date are (risky, clean day 31), so the case stays open.
    earlier = [(NOW + timedelta(days=20), True), (NOW + timedelta(days=31), False)]
    result = visited(
        plan_of(RiskLevel.blue), visit(1), earlier_visits=earlier, open_referrals=0, policy=POLICY, now=NOW
    )
    assert not result.outcome.closed
