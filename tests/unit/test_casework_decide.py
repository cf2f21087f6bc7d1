"""Casework's pure decisions: a case owned by its township station the moment its territory is
known (once, whatever topic says it first), merged the same whichever order its services' events
arrive in, reopened by a later report, what is due next; a supervisor's assignment; and a person's
reopening of a closed case (a red one on a supervisor's approval, never one a link merged away)."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import get_args

import pytest

from services.casework.api import Case
from services.casework.decide import (
    NEVER,
    CaseFile,
    CaseState,
    ChildHasOpenCase,
    Decision,
    DirectoryEntry,
    MergedByLink,
    NoRecentVisit,
    NotACaseworker,
    NotYours,
    OpenReferrals,
    OpenServices,
    ReasonRequired,
    Refused,
    UnexpectedEvent,
    approval_decided,
    assigned,
    decide,
    derive,
    escalated,
    reopening,
    requested,
    reviewed,
    station_of,
)
from services.casework.policy import load_policy
from shared.contracts.envelope import EventPayload
from shared.contracts.events import (
    CaseApprovalDecided,
    CaseApprovalRequested,
    CaseAssessed,
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseReassessmentRequested,
    CaseReopened,
    CaseReported,
    CaseReviewed,
    CaseTransferred,
    ChildLinked,
    ChildLinkUndone,
    FollowupClosureRuleMet,
    FollowupScheduled,
    FollowupVisitRecorded,
    ReferralCreated,
    ReferralStatusChanged,
    ReferralWithdrawn,
    ServiceChanged,
)
from shared.contracts.vocabulary import (
    Agency,
    Category,
    Channel,
    IdentificationReason,
    Indicator,
    LinkUndoReason,
    ProviderKind,
    ReferralState,
    ReopenReason,
    RiskLevel,
    ServiceKind,
    ServiceOutcome,
    ServiceState,
    Stage,
    TransferReason,
    WithdrawalReason,
)

POLICY = load_policy()
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
VILLAGE, TOWNSHIP = "140402001001", "140402001000"
CASE = uuid.UUID("00000000-0000-4000-8000-000000000001")
CHILD = uuid.UUID("00000000-0000-4000-8000-000000000002")


def report(at: datetime = NOW, category: Category = Category.abuse) -> CaseReported:
    return CaseReported(
        case_id=CASE,
        report_id=uuid.uuid4(),
        child_ref=CHILD,
        external_id=None,
        channel=Channel.hotline,
        jurisdiction=VILLAGE,
        age_years=9,
        categories=[category],
        indicators=[Indicator.immediate_danger],
        earlier_reports=0,
        reported_at=at,
    )


def grade(level: RiskLevel = RiskLevel.red, stage: Stage = Stage.written_review) -> CaseAssessed:
    return CaseAssessed(
        case_id=CASE,
        assessment_id=uuid.uuid4(),
        jurisdiction=VILLAGE,
        categories=[Category.abuse],
        risk_level=level,
        initial_risk_level=level,
        overridden=False,
        score=9,
        factors=[],
        rule_set_version="test",
        needs=[],
        emergency=level == RiskLevel.red,
        response_due_at=NOW + timedelta(hours=24),
        stage=stage,
    )


REFERRAL = uuid.UUID("00000000-0000-4000-8000-0000000000aa")


def referral(ack_due: datetime = NOW + timedelta(hours=1)) -> ReferralCreated:
    return ReferralCreated(
        referral_id=REFERRAL,
        case_id=CASE,
        agency=Agency.police,
        risk_level=RiskLevel.red,
        emergency=True,
        categories=[Category.abuse],
        needs=[],
        jurisdiction=VILLAGE,
        ack_due_at=ack_due,
        details_url="http://referral/v1/referrals/x",
        stage=Stage.written_review,
    )


def acknowledged() -> ReferralStatusChanged:
    return ReferralStatusChanged(
        referral_id=REFERRAL,
        case_id=CASE,
        agency=Agency.police,
        state=ReferralState.acknowledged,
        changed_at=NOW,
        stage=Stage.services,
    )


def withdrawal() -> ReferralWithdrawn:
    return ReferralWithdrawn(
        referral_id=REFERRAL,
        case_id=CASE,
        agency=Agency.police,
        reason=WithdrawalReason.no_longer_needed,
        withdrawn_by="cw-1",
        withdrawn_at=NOW,
    )


def visit(at: datetime) -> FollowupVisitRecorded:
    return FollowupVisitRecorded(
        case_id=CASE,
        visit_id=uuid.uuid4(),
        visited_at=at,
        visitor_ref="cw-1",
        indicators=[],
        needs_met=[],
        needs_unmet=[],
        risk_found=False,
        stage=Stage.monitoring,
    )


def run(
    events: list[EventPayload], state: CaseState | None = None, at: datetime = NOW
) -> tuple[CaseState, list[EventPayload]]:
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
    assert (owned.owner_node, owned.owner_ref, owned.assigned_by, owned.jurisdiction) == (
        TOWNSHIP,
        None,
        None,
        VILLAGE,
    )
    assert state.case.stage == Stage.screening and state.case.urgency == 4, (
        "not graded yet: after every grade"
    )
    assert state.case.sort_due_at == NEVER and state.case.next_due_at is None


def test_a_graded_red_case_is_due_for_review_within_four_hours_and_sorts_first() -> None:
    state, emitted = run([report(), grade(RiskLevel.red)])
    case = state.case
    assert len(emitted) == 1, "owned once"
    assert (case.risk_level, case.stage, case.urgency) == ("red", Stage.written_review, 0), (
        "an emergency: before every other red case"
    )
    assert case.review_due_at == NOW + timedelta(hours=4)
    assert (case.next_due_at, case.next_due_kind, case.sort_due_at) == (
        NOW + timedelta(hours=4),
        "review",
        NOW + timedelta(hours=4),
    )
    blue, _ = run([report(), grade(RiskLevel.blue)])
    assert blue.case.review_due_at == NOW + timedelta(hours=72) and blue.case.urgency == 3


def test_a_graver_regrade_before_the_review_brings_its_deadline_forward() -> None:
    state, _ = run([report(), grade(RiskLevel.blue)])
    later = decide(state, grade(RiskLevel.red), POLICY, NOW + timedelta(hours=1)).state
    assert later.case.review_due_at == NOW + timedelta(hours=4), "counted from the first grade"


def test_the_case_is_the_same_whichever_order_its_services_events_arrive_in() -> None:
    events = [
        report(),
        grade(),
        referral(),
        acknowledged(),
        FollowupScheduled(
            case_id=CASE,
            plan_id=uuid.uuid4(),
            risk_level=RiskLevel.red,
            cadence_days=7,
            next_visit_due_at=NOW + timedelta(days=1),
        ),
    ]
    outcomes = set()
    for order in itertools.permutations(events):
        state, emitted = run(list(order))
        assert [type(e) for e in emitted] == [CaseAssigned], (
            "owned exactly once, by whichever event came first"
        )
        outcomes.add(
            (
                dataclasses.replace(state.case, last_activity_at=NOW, assigned_at=None),
                tuple(sorted(state.referrals.items())),
            )
        )
    ((case, referrals),) = outcomes
    assert (case.child_ref, case.stage, case.open_referrals) == (CHILD, Stage.services, 1)
    assert referrals[0][1].state == ReferralState.acknowledged
    # The referral is acknowledged, so the next thing due is the review, then the visit.
    assert (case.next_due_kind, case.next_due_at) == ("review", NOW + timedelta(hours=4))


def test_an_unacknowledged_referral_due_first_is_what_is_due_next() -> None:
    state, _ = run([report(), grade(), referral(ack_due=NOW + timedelta(minutes=30))])
    assert (state.case.next_due_kind, state.case.next_due_at) == ("referral", NOW + timedelta(minutes=30))
    assert state.case.open_referrals == 1


def rule_met(at: datetime) -> FollowupClosureRuleMet:
    return FollowupClosureRuleMet(
        case_id=CASE, plan_id=uuid.uuid4(), visit_id=uuid.uuid4(), risk_level=RiskLevel.blue, met_at=at
    )


def test_a_blue_case_closes_by_follow_ups_rule_and_a_later_report_reopens_it_for_review() -> None:
    state, _ = run([report(), grade(RiskLevel.blue)])
    closed, emitted = run([rule_met(NOW + timedelta(days=30))], state)
    assert emitted == [CaseClosed(case_id=CASE, reason="risk_resolved", closed_at=NOW + timedelta(days=30))]
    assert (closed.case.state, closed.case.stage, closed.case.closed_reason) == (
        "closed",
        Stage.closed,
        "risk_resolved",
    )
    assert closed.case.next_due_at is None, "nothing is due on a closed case"
    reopened, emitted = run([report(at=NOW + timedelta(days=40), category=Category.left_behind)], closed)
    assert (reopened.case.state, reopened.case.stage) == ("open", Stage.screening)
    assert reopened.case.categories == ("abuse", "left_behind")
    assert emitted == [], "the case keeps its owner, and the old rule does not close it again"


def test_the_closure_rule_closes_whichever_order_it_is_read_in_but_not_a_case_reported_since() -> None:
    closes = [report(), grade(RiskLevel.blue), rule_met(NOW + timedelta(days=30))]
    for order in itertools.permutations(closes):
        state, emitted = run(list(order))
        assert state.case.state == "closed" and sum(isinstance(e, CaseClosed) for e in emitted) == 1
    state, emitted = run(
        [report(at=NOW + timedelta(days=40)), grade(RiskLevel.blue), rule_met(NOW + timedelta(days=30))]
    )
    assert state.case.state == "open" and not any(isinstance(e, CaseClosed) for e in emitted)
    red, emitted = run([report(), grade(RiskLevel.red), rule_met(NOW + timedelta(days=30))])
    assert red.case.state == "open", "the rule closes blue cases only"


def test_a_case_above_township_level_is_owned_by_its_own_node() -> None:
    assert station_of("140402000000") == "140402000000"
    assert station_of(VILLAGE) == TOWNSHIP


def test_an_event_casework_has_no_rule_for_is_refused() -> None:
    asked = CaseReassessmentRequested(
        case_id=CASE,
        visit_id=None,
        indicators=[],
        unmet_needs=[],
        reason="visit_found_new_risk",
        requested_at=NOW,
    )
    with pytest.raises(UnexpectedEvent):
        decide(CaseState(None), asked, POLICY, NOW)


def _owned_case() -> CaseFile:
    state, _ = run([report(), grade()])
    return state.case


def vouched(subject: str, jurisdiction: str = "140402", role: str = "caseworker") -> DirectoryEntry:
    """The directory's word for a person: an active user of this role and territory."""
    return DirectoryEntry(subject=subject, role=role, jurisdiction=jurisdiction)


def test_a_supervisor_names_the_owner_and_replacing_one_needs_a_reason() -> None:
    case = _owned_case()
    first = assigned(case, "cw-1", supervisor="sup-1", reason=None, now=NOW, entry=vouched("cw-1"))
    (event,) = first.events
    assert (event.owner_ref, event.assigned_by, event.previous_owner_ref, event.reason) == (
        "cw-1",
        "sup-1",
        None,
        None,
    )
    assert first.state.case.owner_ref == "cw-1" and first.state.case.owner_node == TOWNSHIP
    assert assigned(
        first.state.case, "cw-1", supervisor="sup-1", reason=None, now=NOW, entry=None
    ) == Decision(CaseState(first.state.case)), "naming the same owner again changes nothing"
    with pytest.raises(ReasonRequired):
        assigned(first.state.case, "cw-2", supervisor="sup-1", reason=None, now=NOW, entry=vouched("cw-2"))
    second = assigned(
        first.state.case,
        "cw-2",
        supervisor="sup-1",
        reason="workload",
        now=NOW,
        entry=vouched("cw-2", jurisdiction="140402001"),
    )
    assert (second.events[0].previous_owner_ref, second.events[0].reason) == ("cw-1", "workload")


@pytest.mark.parametrize(
    ("caseworker", "entry"),
    [
        ("u-nobody-at-all", None),  # a name nobody has: the directory vouches for no one
        ("cw-1", vouched("cw-2")),  # the word is for someone else
        ("po-1", vouched("po-1", role="agency_officer")),  # a police officer
        ("sup-2", vouched("sup-2", role="supervisor")),
        ("cw-9", vouched("cw-9", jurisdiction="140403")),  # a caseworker of another county
        ("cw-8", vouched("cw-8", jurisdiction="140402002")),  # …or of another township of the county
    ],
)
def test_a_case_is_owned_only_by_an_active_caseworker_whose_territory_holds_it(
    caseworker: str, entry: DirectoryEntry | None
) -> None:
    with pytest.raises(NotACaseworker):
        assigned(_owned_case(), caseworker, supervisor="sup-1", reason=None, now=NOW, entry=entry)


def test_a_closed_case_cannot_be_assigned() -> None:
    case = dataclasses.replace(_owned_case(), state="closed")
    with pytest.raises(Refused):
        assigned(case, "cw-1", supervisor="sup-1", reason=None, now=NOW, entry=vouched("cw-1"))


def _graded(level: RiskLevel, owner: str | None = "cw-1", *, referral_open: bool = True) -> CaseState:
    """A graded case owned by `owner`, referred to the police (the referral withdrawn unless open)."""
    events = [report(), grade(level), referral(ack_due=NOW + timedelta(days=5))]
    state, _ = run(events if referral_open else [*events, withdrawal()])
    return dataclasses.replace(state, case=dataclasses.replace(state.case, owner_ref=owner))


def test_the_owner_screens_a_case_in_and_it_goes_on_to_needs_assessment() -> None:
    state = _graded(RiskLevel.red)
    later = NOW + timedelta(hours=1)
    decision = reviewed(state, "screened_in", None, by="cw-1", supervisor=False, now=later)
    (event,) = decision.events
    assert isinstance(event, CaseReviewed) and (event.decision, event.reviewed_by) == ("screened_in", "cw-1")
    case = decision.state.case
    assert (case.stage, case.reviewed_at) == (Stage.needs_assessment, later)
    assert (case.next_due_kind, case.open_referrals) == ("referral", 1), "the review is no longer what is due"
    with pytest.raises(Refused, match="recorded already"):
        reviewed(decision.state, "screened_in", None, by="cw-1", supervisor=False, now=later)
    with pytest.raises(NotYours):
        reviewed(state, "screened_in", None, by="cw-2", supervisor=False, now=later)
    assert reviewed(state, "screened_in", None, by="sup-1", supervisor=True, now=later).events


def test_a_screening_in_sent_with_a_screen_out_reason_is_refused_not_silently_dropped() -> None:
    """The API's schema says so (reason null when screened in); found by the contract fuzzer."""
    with pytest.raises(ReasonRequired, match="screening in takes no reason"):
        reviewed(_graded(RiskLevel.red), "screened_in", "unfounded", by="cw-1", supervisor=False, now=NOW)


def test_screening_out_needs_a_reason_and_for_a_red_case_a_supervisors_approval() -> None:
    red, blue = _graded(RiskLevel.red, referral_open=False), _graded(RiskLevel.blue, referral_open=False)
    with pytest.raises(ReasonRequired):
        reviewed(blue, "screened_out", None, by="cw-1", supervisor=False, now=NOW)
    with pytest.raises(ReasonRequired):
        reviewed(blue, "screened_out", "risk_resolved", by="cw-1", supervisor=False, now=NOW)
    with pytest.raises(Refused, match="supervisor's approval"):
        reviewed(red, "screened_out", "unfounded", by="cw-1", supervisor=False, now=NOW)
    review, closure = reviewed(blue, "screened_out", "unfounded", by="cw-1", supervisor=False, now=NOW).events
    assert (review.reason, review.approved_by, closure.reason) == ("unfounded", None, "screened_out")


def test_an_approved_request_screens_a_red_case_out_and_closes_it_with_its_reason() -> None:
    state = _graded(RiskLevel.red, referral_open=False)
    approval, asked = requested(
        state, "screen_out", "duplicate", by="cw-1", pending=[], policy=POLICY, now=NOW
    )
    assert isinstance(asked.events[0], CaseApprovalRequested) and asked.state.case.pending_approvals == 1
    with pytest.raises(Refused, match="pending already"):
        requested(
            asked.state, "screen_out", "duplicate", by="cw-1", pending=[approval], policy=POLICY, now=NOW
        )
    with pytest.raises(ReasonRequired):
        approval_decided(asked.state, approval, False, None, by="sup-1", policy=POLICY, now=NOW)
    decided, outcome = approval_decided(asked.state, approval, True, None, by="sup-1", policy=POLICY, now=NOW)
    kinds = [type(e) for e in outcome.events]
    assert kinds == [CaseApprovalDecided, CaseReviewed, CaseClosed]
    assert (outcome.events[1].reviewed_by, outcome.events[1].approved_by) == ("cw-1", "sup-1")
    assert outcome.events[2].reason == "screened_out" and outcome.state.case.state == "closed"
    assert (decided.state, outcome.state.case.pending_approvals) == ("approved", 0)
    with pytest.raises(Refused, match="approved already"):
        approval_decided(outcome.state, decided, True, None, by="sup-2", policy=POLICY, now=NOW)


def test_a_closure_request_needs_a_closing_reason_and_a_rejection_keeps_the_case_open() -> None:
    state = _graded(RiskLevel.orange, referral_open=False)
    with pytest.raises(ReasonRequired):
        requested(state, "close", "unfounded", by="cw-1", pending=[], policy=POLICY, now=NOW)
    with pytest.raises(NotYours):
        requested(state, "close", "turned_18", by="cw-2", pending=[], policy=POLICY, now=NOW)
    approval, asked = requested(state, "close", "turned_18", by="cw-1", pending=[], policy=POLICY, now=NOW)
    rejected, outcome = approval_decided(
        asked.state, approval, False, "needs_more_visits", by="sup-1", policy=POLICY, now=NOW
    )
    assert (rejected.state, rejected.decision_reason, outcome.state.case.state) == (
        "rejected",
        "needs_more_visits",
        "open",
    )
    approval, asked = requested(
        outcome.state, "close", "turned_18", by="cw-1", pending=[rejected], policy=POLICY, now=NOW
    )
    _, closed = approval_decided(asked.state, approval, True, None, by="sup-1", policy=POLICY, now=NOW)
    assert closed.events[-1] == CaseClosed(case_id=CASE, reason="turned_18", closed_at=NOW)


LUZHOU_VILLAGE, LUZHOU_TOWN = "140403100201", "140403100000"  # another county's village and its town


def test_a_transfer_accepted_moves_the_case_its_owner_and_its_review_deadline_to_the_new_territory() -> None:
    state = _graded(RiskLevel.red)
    with pytest.raises(NotYours):
        requested(
            state,
            "transfer",
            "family_moved",
            by="cw-2",
            pending=[],
            policy=POLICY,
            now=NOW,
            to_jurisdiction=LUZHOU_VILLAGE,
        )
    with pytest.raises(ReasonRequired):
        requested(
            state,
            "transfer",
            "turned_18",
            by="cw-1",
            pending=[],
            policy=POLICY,
            now=NOW,
            to_jurisdiction=LUZHOU_VILLAGE,
        )
    with pytest.raises(Refused, match="another territory"):
        requested(
            state,
            "transfer",
            "family_moved",
            by="cw-1",
            pending=[],
            policy=POLICY,
            now=NOW,
            to_jurisdiction=VILLAGE,
        )
    approval, asked = requested(
        state,
        "transfer",
        "family_moved",
        by="cw-1",
        pending=[],
        policy=POLICY,
        now=NOW,
        to_jurisdiction=LUZHOU_VILLAGE,
    )
    assert (approval.to_jurisdiction, asked.events[0].to_jurisdiction) == (LUZHOU_VILLAGE, LUZHOU_VILLAGE)
    accepted, outcome = approval_decided(
        asked.state, approval, True, None, by="sup-luzhou", policy=POLICY, now=NOW
    )
    decided, moved, owner = outcome.events
    assert isinstance(decided, CaseApprovalDecided) and accepted.state == "approved"
    assert moved == CaseTransferred(
        case_id=CASE,
        approval_id=approval.approval_id,
        from_jurisdiction=VILLAGE,
        jurisdiction=LUZHOU_VILLAGE,
        reason=TransferReason.family_moved,
        requested_by="cw-1",
        accepted_by="sup-luzhou",
        transferred_at=NOW,
    )
    assert (
        owner.jurisdiction,
        owner.owner_node,
        owner.owner_ref,
        owner.previous_owner_ref,
        owner.reason,
    ) == (LUZHOU_VILLAGE, LUZHOU_TOWN, None, "cw-1", "transferred")
    case = outcome.state.case
    assert (case.jurisdiction, case.owner_node, case.owner_ref, case.state) == (
        LUZHOU_VILLAGE,
        LUZHOU_TOWN,
        None,
        "open",
    )
    # Its open referral and unrecorded review go with it: the new county's supervisors hear of a miss.
    assert (case.open_referrals, case.next_due_kind) == (1, "review")
    (late,) = escalated(case, POLICY, NOW + timedelta(hours=5)).events
    assert late.to_jurisdiction == "140403000000"
    # An event still naming the old territory, read after the transfer, does not move it back.
    regraded, _ = run([grade(RiskLevel.orange)], outcome.state)
    assert regraded.case.jurisdiction == LUZHOU_VILLAGE


def test_a_declined_transfer_leaves_the_case_and_a_transfer_waits_alone() -> None:
    state = _graded(RiskLevel.orange, referral_open=False)
    closing, asked = requested(state, "close", "turned_18", by="cw-1", pending=[], policy=POLICY, now=NOW)
    with pytest.raises(Refused, match="waits alone"):
        requested(
            asked.state,
            "transfer",
            "family_moved",
            by="cw-1",
            pending=[closing],
            policy=POLICY,
            now=NOW,
            to_jurisdiction=LUZHOU_VILLAGE,
        )
    # A supervisor of the case's territory may ask too (the station owns an unassigned case).
    unowned = _graded(RiskLevel.orange, owner=None, referral_open=False)
    assert (
        requested(
            unowned,
            "transfer",
            "placed_there",
            by="sup-1",
            supervisor=True,
            pending=[],
            policy=POLICY,
            now=NOW,
            to_jurisdiction=LUZHOU_VILLAGE,
        )[0].requested_by
        == "sup-1"
    )
    transfer, asked = requested(
        state,
        "transfer",
        "placed_there",
        by="sup-1",
        supervisor=True,
        pending=[],
        policy=POLICY,
        now=NOW,
        to_jurisdiction=LUZHOU_VILLAGE,
    )
    with pytest.raises(Refused, match="waits alone"):
        requested(asked.state, "close", "turned_18", by="cw-1", pending=[transfer], policy=POLICY, now=NOW)
    declined, outcome = approval_decided(
        asked.state, transfer, False, "no_capacity", by="sup-luzhou", policy=POLICY, now=NOW
    )
    assert declined.state == "rejected" and [type(e) for e in outcome.events] == [CaseApprovalDecided]
    assert outcome.state.case.jurisdiction == VILLAGE and outcome.state.case.pending_approvals == 0


def test_a_missed_review_escalates_to_the_county_once_per_deadline() -> None:
    case = _graded(RiskLevel.red).case
    assert escalated(case, POLICY, NOW + timedelta(hours=3)).events == ()
    late = escalated(case, POLICY, NOW + timedelta(hours=5))
    (event,) = late.events
    assert isinstance(event, CaseEscalated)
    assert (event.reason, event.to_jurisdiction, event.due_at) == (
        "review_overdue",
        "140402000000",
        NOW + timedelta(hours=4),
    )
    assert escalated(late.state.case, POLICY, NOW + timedelta(hours=9)).events == (), "once per deadline"
    reviewed_case = dataclasses.replace(case, reviewed_at=NOW)
    assert escalated(reviewed_case, POLICY, NOW + timedelta(hours=5)).events == ()


def test_a_blind_spot_escalates_once_after_the_grace_and_again_only_after_it_was_mended() -> None:
    case = dataclasses.replace(_graded(RiskLevel.blue).case, owner_node=None)
    assert escalated(case, POLICY, NOW + timedelta(minutes=10)).events == (), "within the grace"
    spot = escalated(case, POLICY, NOW + timedelta(hours=1))
    assert [e.reason for e in spot.events] == ["no_owner"]
    assert escalated(spot.state.case, POLICY, NOW + timedelta(hours=2)).events == ()
    mended = derive(CaseState(dataclasses.replace(spot.state.case, owner_node=TOWNSHIP))).case
    assert mended.blind_spot_escalated_at is None
    nothing_due = dataclasses.replace(
        mended, review_due_at=None, reviewed_at=NOW, visit_due_at=None, next_due_at=None
    )
    assert [e.reason for e in escalated(nothing_due, POLICY, NOW + timedelta(hours=2)).events] == [
        "nothing_due"
    ]


def test_a_case_does_not_close_while_an_agency_holds_an_open_referral() -> None:
    state = _graded(RiskLevel.blue)
    for kind, reason in (("close", "moved_away"), ("screen_out", "unfounded")):
        with pytest.raises(OpenReferrals, match=f"police \\({REFERRAL}, created\\)") as refused:
            requested(state, kind, reason, by="cw-1", pending=[], policy=POLICY, now=NOW)
        assert [(r.referral_id, r.agency) for r in refused.value.referrals] == [(REFERRAL, "police")]
    with pytest.raises(OpenReferrals):
        reviewed(state, "screened_out", "unfounded", by="cw-1", supervisor=False, now=NOW)
    # Withdrawn (told on the agency's topic or on referral.status, in either order): it may close.
    ended, _ = run([withdrawal()], state)
    assert ended.case.open_referrals == 0
    approval, asked = requested(ended, "close", "moved_away", by="cw-1", pending=[], policy=POLICY, now=NOW)
    # A referral opened while the request waited (a new grade): the approval is refused too.
    reopened, _ = run(
        [referral().model_copy(update={"referral_id": uuid.uuid4(), "agency": Agency.education})], asked.state
    )
    with pytest.raises(OpenReferrals, match="education"):
        approval_decided(reopened, approval, True, None, by="sup-1", policy=POLICY, now=NOW)
    _, closed = approval_decided(asked.state, approval, True, None, by="sup-1", policy=POLICY, now=NOW)
    assert closed.state.case.state == "closed"


SERVICE = uuid.UUID("00000000-0000-4000-8000-0000000000bb")


def service_changed(
    state: ServiceState, *, at: datetime, of: ServiceChanged | None = None, due: date = date(2026, 12, 20)
) -> ServiceChanged:
    """A service of the case's plan (counselling by a contracted organisation) announced in `state`."""
    return ServiceChanged(
        service_id=of.service_id if of else SERVICE,
        case_id=CASE,
        kind=ServiceKind.counselling,
        provider_id=uuid.UUID("00000000-0000-4000-8000-0000000000cc"),
        provider_kind=ProviderKind.social_work_organisation,
        state=state,
        outcome=ServiceOutcome.need_met if state == ServiceState.delivered else None,
        reason="no_longer_needed" if state in (ServiceState.withdrawn, ServiceState.not_delivered) else None,
        units_delivered=0,
        due_on=of.due_on if of else due,
        jurisdiction="140402001001",
        changed_at=at,
        stage=Stage.services,
    )


def test_a_case_does_not_close_while_a_service_of_its_plan_is_owed() -> None:
    planned = service_changed(ServiceState.planned, at=NOW)
    state, _ = run([planned], _graded(RiskLevel.blue, referral_open=False))
    assert state.case.stage == "services"
    with pytest.raises(OpenServices, match=f"counselling \\({SERVICE}, planned\\)") as refused:
        requested(state, "close", "moved_away", by="cw-1", pending=[], policy=POLICY, now=NOW)
    assert [s.service_id for s in refused.value.services] == [SERVICE]
    # An older change read after a newer one changes nothing; once it has ended the case may close.
    delivered = service_changed(ServiceState.delivered, at=NOW + timedelta(minutes=5), of=planned)
    ended, _ = run(
        [delivered, service_changed(ServiceState.in_progress, at=NOW + timedelta(minutes=1))], state
    )
    assert ended.services[SERVICE].state == "delivered"
    requested(ended, "close", "moved_away", by="cw-1", pending=[], policy=POLICY, now=NOW)


def test_an_open_services_due_date_is_among_what_is_due_next_and_follow_ups_rule_waits_for_it() -> None:
    state, _ = run(
        [service_changed(ServiceState.accepted, at=NOW, due=date(2026, 12, 1))],
        _graded(RiskLevel.blue, referral_open=False),
    )
    # Late from midnight after its due date, China Standard Time.
    assert (state.case.next_due_kind, state.case.next_due_at) == (
        "service",
        datetime(2026, 12, 1, 16, 0, tzinfo=UTC),
    )
    # And the API says so: a worklist whose first case owes a service is answered, not a 500.
    assert "service" in get_args(Case.model_fields["next_due_kind"].annotation.__args__[0])
    met = FollowupClosureRuleMet(
        case_id=CASE, plan_id=uuid.uuid4(), visit_id=uuid.uuid4(), risk_level=RiskLevel.blue, met_at=NOW
    )
    held, emitted = run([met], state)
    assert held.case.state == "open" and not any(isinstance(e, CaseClosed) for e in emitted)


def test_follow_ups_closure_rule_does_not_close_a_case_with_an_open_referral() -> None:
    met = FollowupClosureRuleMet(
        case_id=CASE,
        plan_id=uuid.uuid4(),
        visit_id=uuid.uuid4(),
        risk_level=RiskLevel.blue,
        met_at=NOW + timedelta(days=1),
    )
    held, emitted = run([met], _graded(RiskLevel.blue))
    assert held.case.state == "open" and not any(isinstance(e, CaseClosed) for e in emitted)
    # Once the referral has ended, the rule (met after the latest report) closes it.
    closed, emitted = run([withdrawal()], held)
    assert closed.case.state == "closed" and isinstance(emitted[-1], CaseClosed)


@pytest.mark.parametrize("level", [RiskLevel.red, RiskLevel.orange])
def test_a_grave_case_closes_as_safe_only_after_a_recent_visit(level: RiskLevel) -> None:
    state = _graded(level, referral_open=False)
    for reason in ("risk_resolved", "family_reunified"):
        with pytest.raises(NoRecentVisit, match="30 days"):
            requested(state, "close", reason, by="cw-1", pending=[], policy=POLICY, now=NOW)
    stale, _ = run([visit(NOW - timedelta(days=31))], state)
    with pytest.raises(NoRecentVisit):
        requested(stale, "close", "risk_resolved", by="cw-1", pending=[], policy=POLICY, now=NOW)
    seen, _ = run([visit(NOW - timedelta(days=3))], stale)
    assert seen.case.last_visited_at == NOW - timedelta(days=3), (
        "the latest visit, whatever order they came in"
    )
    assert (
        requested(seen, "close", "risk_resolved", by="cw-1", pending=[], policy=POLICY, now=NOW)[0].kind
        == "close"
    )
    # Closures that do not say the child is safe need no visit.
    for reason in ("turned_18", "moved_away", "deceased", "duplicate"):
        requested(state, "close", reason, by="cw-1", pending=[], policy=POLICY, now=NOW)


def test_a_blue_case_closes_as_resolved_without_a_visit_rule() -> None:
    state = _graded(RiskLevel.blue, referral_open=False)
    assert requested(state, "close", "risk_resolved", by="cw-1", pending=[], policy=POLICY, now=NOW)[0]


def test_an_emergency_is_listed_before_every_other_red_case_and_the_number_stays() -> None:
    emergency, _ = run(
        [report().model_copy(update={"case_number": "140402-2026-00007"}), grade(RiskLevel.red)]
    )
    plain_red, _ = run([report(), grade(RiskLevel.red).model_copy(update={"emergency": False})])
    assert (emergency.case.urgency, plain_red.case.urgency) == (0, 1)
    assert emergency.case.case_number == "140402-2026-00007"
    later, _ = run([report(NOW + timedelta(days=1))], emergency)
    assert later.case.case_number == "140402-2026-00007", "a case keeps the number it opened with"


# ---- a provisional child identified: two cases become one, and a supervisor's undo -----------------

OTHER_CASE = uuid.UUID("00000000-0000-4000-8000-000000000003")
LINKED_AT = NOW + timedelta(hours=2)


def link(surviving: uuid.UUID = OTHER_CASE) -> ChildLinked:
    return ChildLinked(
        case_id=CASE,
        link_id=uuid.uuid4(),
        provisional_ref=CHILD,
        child_ref=uuid.uuid4(),
        merged_child_ref=CHILD,
        surviving_case_id=surviving,
        jurisdiction=VILLAGE,
        linked_at=LINKED_AT,
        reason=IdentificationReason.later_report,
        linked_by="cw-1",
    )


def unlink(linked: ChildLinked) -> ChildLinkUndone:
    return ChildLinkUndone(
        **linked.model_dump(exclude={"reason", "linked_by"}),
        reason=LinkUndoReason.wrong_child,
        undone_by="sup-1",
        undone_at=LINKED_AT + timedelta(hours=1),
    )


def test_a_case_merged_away_by_a_link_closes_as_a_duplicate_though_an_agency_holds_a_referral() -> None:
    before = _graded(RiskLevel.red)
    assert before.case.open_referrals == 1
    state, emitted = run([link()], before)
    (closed,) = emitted
    assert isinstance(closed, CaseClosed) and closed.reason == "duplicate" and closed.closed_at == LINKED_AT
    assert (state.case.state, state.case.closed_reason, state.case.closed_from_stage) == (
        "closed",
        "duplicate",
        Stage.written_review,
    )
    assert state.case.owner_ref == "cw-1", "the owner stays on record"


def test_the_case_that_remains_and_a_case_closed_before_are_left_as_they_are() -> None:
    remains, emitted = run([link(surviving=CASE)], _graded(RiskLevel.red))
    assert emitted == [] and remains.case.state == "open"
    closed_before = dataclasses.replace(
        _graded(RiskLevel.blue, referral_open=False).case,
        state="closed",
        stage=Stage.closed.value,
        closed_at=NOW,
        closed_reason="moved_away",
    )
    state, emitted = run([link()], CaseState(closed_before))
    assert emitted == [] and state.case.closed_reason == "moved_away"
    state, _ = run([unlink(link())], state)
    assert state.case.state == "closed", "an undo reopens only what its link closed"


def test_an_undone_link_reopens_the_case_where_it_was_with_its_owner() -> None:
    linked = link()
    merged, _ = run([linked], _graded(RiskLevel.red, referral_open=False))
    state, emitted = run([unlink(linked)], merged)
    assert emitted == []
    case = state.case
    assert (case.state, case.stage, case.closed_at, case.closed_reason) == (
        "open",
        Stage.written_review,
        None,
        None,
    )
    assert case.owner_ref == "cw-1" and case.next_due_at == case.review_due_at, "the review is due as before"
    again, _ = run([unlink(linked)], state)
    assert again.case == dataclasses.replace(case, last_activity_at=again.case.last_activity_at), (
        "heard twice, nothing changes"
    )


# ---- a person reopens a closed case ---------------------------------------------------------------

CLOSED_AT = NOW + timedelta(days=3)
LATER = NOW + timedelta(days=10)


def _closed(level: RiskLevel, reason: str = "turned_18") -> CaseState:
    """A graded case owned by cw-1, screened in and planned, closed on a supervisor's approval."""
    state = reviewed(
        _graded(level, referral_open=False),
        "screened_in",
        None,
        by="cw-1",
        supervisor=False,
        now=NOW + timedelta(hours=1),
    ).state
    state = dataclasses.replace(state, case=dataclasses.replace(state.case, stage=Stage.plan.value))
    approval, asked = requested(state, "close", reason, by="cw-1", pending=[], policy=POLICY, now=CLOSED_AT)
    _, closed = approval_decided(asked.state, approval, True, None, by="sup-1", policy=POLICY, now=CLOSED_AT)
    assert closed.state.case.state == "closed"
    return closed.state


def _reopen(
    state: CaseState,
    by: str = "cw-1",
    *,
    supervisor: bool = False,
    reason: str | None = "new_risk",
    pending=(),
    into: CaseFile | None = None,
) -> Decision:
    return reopening(
        state,
        reason,
        by=by,
        supervisor=supervisor,
        pending=list(pending),
        policy=POLICY,
        now=LATER,
        into=into,
    )


@pytest.mark.parametrize(("level", "hours"), [(RiskLevel.orange, 24), (RiskLevel.blue, 72)])
def test_the_owner_reopens_an_orange_or_blue_case_where_it_was_with_its_owner_and_its_review_due_again(
    level: RiskLevel, hours: int
) -> None:
    decision = _reopen(_closed(level))
    (event,) = decision.events
    assert event == CaseReopened(
        case_id=CASE,
        reason=ReopenReason.new_risk,
        reopened_by="cw-1",
        risk_level=level,
        stage=Stage.plan,
        closed_at=CLOSED_AT,
        reopened_at=LATER,
    )
    case = decision.state.case
    assert (case.state, case.stage, case.owner_ref, case.owner_node) == ("open", Stage.plan, "cw-1", TOWNSHIP)
    assert (case.closed_at, case.closed_reason, case.closed_from_stage) == (None, None, None)
    assert case.reopened_at == LATER
    assert case.reviewed_at is None and case.review_due_at == LATER + timedelta(hours=hours)
    assert (case.next_due_kind, case.next_due_at) == ("review", LATER + timedelta(hours=hours)), (
        "every open case has something due, dated by its grade from the reopening"
    )
    again = reviewed(decision.state, "screened_in", None, by="cw-1", supervisor=False, now=LATER)
    assert again.state.case.stage == Stage.plan, "screened in again, it carries on where it was"


def test_a_reopening_takes_a_reason_the_owner_or_a_supervisor_and_a_closed_case() -> None:
    closed = _closed(RiskLevel.orange)
    for reason in (None, "risk_resolved", "whim"):
        with pytest.raises(ReasonRequired):
            _reopen(closed, reason=reason)
    with pytest.raises(NotYours, match="owner or a supervisor"):
        _reopen(closed, by="cw-2")
    assert _reopen(closed, by="sup-1", supervisor=True).state.case.state == "open"
    with pytest.raises(Refused, match="open"):
        _reopen(_graded(RiskLevel.orange, referral_open=False))
    with pytest.raises(Refused, match="directly"):
        requested(closed, "reopen", "new_risk", by="cw-1", pending=[], policy=POLICY, now=LATER)


def test_a_red_case_is_reopened_by_its_caseworker_only_through_a_supervisors_approval() -> None:
    closed = _closed(RiskLevel.red, reason="moved_away")
    with pytest.raises(Refused, match="supervisor's approval"):
        _reopen(closed)
    with pytest.raises(ReasonRequired):
        requested(closed, "reopen", "moved_away", by="cw-1", pending=[], policy=POLICY, now=LATER)
    approval, asked = requested(
        closed, "reopen", "services_still_needed", by="cw-1", pending=[], policy=POLICY, now=LATER
    )
    assert isinstance(asked.events[0], CaseApprovalRequested) and asked.events[0].kind == "reopen"
    assert asked.state.case.state == "closed" and asked.state.case.pending_approvals == 1
    with pytest.raises(Refused, match="pending"):
        _reopen(asked.state, by="sup-1", supervisor=True, pending=[approval])
    rejected, kept = approval_decided(
        asked.state, approval, False, "reason_not_shown", by="sup-1", policy=POLICY, now=LATER
    )
    assert rejected.state == "rejected" and kept.state.case.state == "closed"
    decided, outcome = approval_decided(
        asked.state, approval, True, None, by="sup-1", policy=POLICY, now=LATER + timedelta(minutes=5)
    )
    decision, reopened = outcome.events
    assert isinstance(decision, CaseApprovalDecided) and decision.kind == "reopen"
    assert decided.state == "approved"
    assert (reopened.reason, reopened.reopened_by, reopened.approved_by, reopened.approval_id) == (
        "services_still_needed",
        "cw-1",
        "sup-1",
        approval.approval_id,
    )
    case = outcome.state.case
    assert (case.state, case.stage, case.pending_approvals) == ("open", Stage.plan, 0)
    assert case.review_due_at == LATER + timedelta(minutes=5, hours=4)
    with pytest.raises(Refused, match="approved already"):
        approval_decided(outcome.state, decided, True, None, by="sup-2", policy=POLICY, now=LATER)


def test_a_case_red_when_it_closed_needs_approval_and_a_supervisor_reopens_it_on_their_own() -> None:
    closed = _closed(RiskLevel.red, reason="moved_away")
    regraded = dataclasses.replace(closed, case=dataclasses.replace(closed.case, risk_level="orange"))
    with pytest.raises(Refused, match="supervisor's approval"):
        _reopen(regraded)
    (event,) = _reopen(regraded, by="sup-1", supervisor=True).events
    assert (event.risk_level, event.reopened_by, event.approved_by) == ("red", "sup-1", "sup-1")


def test_a_case_closed_as_the_duplicate_of_a_link_is_reopened_only_by_the_links_undo() -> None:
    linked = link()
    merged, _ = run([linked], _graded(RiskLevel.orange, referral_open=False))
    assert merged.case.merged_into == OTHER_CASE
    survivor = CaseFile(case_id=OTHER_CASE, last_activity_at=NOW, case_number="140402-2026-00009")
    with pytest.raises(MergedByLink, match="undoes the link") as refused:
        _reopen(merged, into=survivor)
    assert refused.value.into == survivor
    with pytest.raises(MergedByLink):
        _reopen(merged, by="sup-1", supervisor=True)
    undone, _ = run([unlink(linked)], merged)
    assert undone.case.state == "open" and undone.case.merged_into is None


def test_a_case_merged_while_closed_is_not_reopened_the_childs_case_is_named_instead() -> None:
    closed = _closed(RiskLevel.orange, reason="moved_away")
    linked = link()
    merged, emitted = run([linked], closed)
    assert emitted == [] and merged.case.closed_reason == "moved_away"
    assert merged.case.merged_into == OTHER_CASE
    survivor = CaseFile(case_id=OTHER_CASE, last_activity_at=NOW, case_number="140402-2026-00009")
    with pytest.raises(ChildHasOpenCase, match="140402-2026-00009") as refused:
        _reopen(merged, into=survivor)
    assert refused.value.case == survivor
    with pytest.raises(MergedByLink, match="reopen that one"):
        _reopen(merged, into=dataclasses.replace(survivor, state="closed"))
    undone, _ = run([unlink(linked)], merged)
    assert _reopen(undone).state.case.state == "open", "the link undone, it is the child's case again"


def test_a_closure_rule_met_before_the_reopening_does_not_close_the_case_again() -> None:
    state, _ = run([report(), grade(RiskLevel.blue)])
    closed, _ = run([rule_met(CLOSED_AT)], state)
    assert closed.case.state == "closed"
    owned = dataclasses.replace(closed, case=dataclasses.replace(closed.case, owner_ref="cw-1"))
    reopened = _reopen(owned).state
    stale, emitted = run([rule_met(CLOSED_AT + timedelta(hours=1))], reopened, at=LATER)
    assert stale.case.state == "open" and emitted == []
    met_again, emitted = run([rule_met(LATER + timedelta(days=30))], reopened, at=LATER + timedelta(days=30))
    assert met_again.case.state == "closed" and [type(e) for e in emitted] == [CaseClosed]


def test_a_regrade_after_the_reopening_counts_the_review_from_the_reopening() -> None:
    reopened = _reopen(_closed(RiskLevel.blue)).state
    graver, _ = run([grade(RiskLevel.orange, stage=Stage.plan)], reopened, at=LATER + timedelta(hours=1))
    assert graver.case.review_due_at == LATER + timedelta(hours=24), "not from the first grade, long past"


def test_a_case_closed_before_it_was_graded_is_due_for_review_as_soon_as_a_red_one() -> None:
    state, _ = run([report()])
    case = dataclasses.replace(
        state.case,
        state="closed",
        stage=Stage.closed.value,
        closed_at=CLOSED_AT,
        closed_reason="moved_away",
        closed_from_stage=Stage.screening.value,
        owner_ref="cw-1",
    )
    decision = _reopen(CaseState(case))
    assert decision.events[0].risk_level is None and decision.events[0].approved_by is None
    assert decision.state.case.review_due_at == LATER + timedelta(hours=4)


def test_a_link_made_before_a_reopening_casework_had_not_heard_of_closes_the_case_after_it() -> None:
    """Intake linked the closed case away, then casework (not knowing yet) reopened it: hearing of the
    link, casework closes it as the duplicate, dated after the reopening, so intake closes it too."""
    closed = _closed(RiskLevel.orange, reason="moved_away")
    reopened = _reopen(closed).state
    linked = link()
    assert linked.linked_at < LATER
    merged, emitted = run([linked], reopened, at=LATER + timedelta(seconds=1))
    (closure,) = emitted
    assert (closure.reason, merged.case.state, merged.case.merged_into) == ("duplicate", "closed", OTHER_CASE)
    assert closure.closed_at > merged.case.reopened_at == LATER
    undone, _ = run([unlink(linked)], merged)
    assert undone.case.state == "open", "the link's undo reopens it, as any case the link closed"
