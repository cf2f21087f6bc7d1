"""Referral's pure decisions: routing a grade (and re-grades that move deadlines), agencies'
answers through the lifecycle, escalation up the tree — several events of one case in a row,
as a batch brings them."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.referral.decide import (
    CaseRecord,
    CaseReferrals,
    Decision,
    ForeignAnswer,
    Policy,
    Referral,
    answer,
    case_closed,
    escalate,
    link_undone,
    reopened,
    route,
    withdraw,
)
from services.referral.lifecycle import IllegalTransition
from services.referral.routing import load_routes
from shared.contracts.events import (
    CaseAssessed,
    CaseClosed,
    CaseReopened,
    ChildLinkUndone,
    ReferralCreated,
    ReferralEscalated,
    ReferralResponded,
    ReferralStatusChanged,
    ReferralWithdrawn,
    ServiceChanged,
)
from shared.contracts.vocabulary import (
    Agency,
    Category,
    ClosureReason,
    LinkUndoReason,
    Need,
    ReferralState,
    ReopenReason,
    RiskLevel,
    Stage,
    WithdrawalReason,
)

ROUTES = load_routes()
POLICY = Policy(routes=ROUTES, public_url="https://referral.example")
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
VILLAGE = "140402001001"


def graded(
    case_id: uuid.UUID,
    level: RiskLevel = RiskLevel.blue,
    *,
    emergency: bool = False,
    categories=(Category.left_behind,),
    needs=(),
    stage: Stage = Stage.written_review,
    version: int | None = None,
) -> CaseAssessed:
    return CaseAssessed(
        case_id=case_id,
        assessment_id=uuid.uuid4(),
        jurisdiction=VILLAGE,
        categories=list(categories),
        risk_level=level,
        initial_risk_level=level,
        overridden=False,
        score=1,
        factors=[],
        rule_set_version="test",
        needs=list(needs),
        emergency=emergency,
        response_due_at=NOW,
        stage=stage,
        version=version,
    )


def closed(case_id: uuid.UUID, reason: ClosureReason = ClosureReason.moved_away) -> CaseClosed:
    return CaseClosed(case_id=case_id, reason=reason.value, closed_at=NOW)


def response(referral: Referral, action: str, *, agency: str | None = None, **details) -> ReferralResponded:
    return ReferralResponded(
        referral_id=referral.id,
        case_id=referral.case_id,
        agency=Agency(agency or referral.agency),
        action=action,
        responded_at=NOW - timedelta(minutes=5),
        responder_ref="officer-1",
        **details,
    )


def created(decision: Decision) -> dict[Agency, ReferralCreated]:
    return {e.agency: e for e in decision.events if isinstance(e, ReferralCreated)}


def referral_to(state: CaseReferrals, agency: Agency) -> Referral:
    (found,) = [r for r in state.referrals if r.agency == agency.value and r.is_open]
    return found


def routed_case(level: RiskLevel = RiskLevel.blue, **grade) -> CaseReferrals:
    case_id = uuid.uuid4()
    return route(CaseReferrals(case_id), graded(case_id, level, **grade), POLICY, NOW).state


def test_a_first_grade_records_the_case_and_refers_it_to_every_agency_the_table_names() -> None:
    case_id = uuid.uuid4()
    grade = graded(case_id, RiskLevel.red, emergency=True, categories=(Category.abuse,), needs=(Need.legal,))
    decision = route(CaseReferrals(case_id), grade, POLICY, NOW)
    assert decision.state.case == CaseRecord(
        case_id, VILLAGE, "red", True, ["abuse"], ["legal"], "written_review"
    )
    agencies = [e.agency for e in decision.events]
    assert agencies[0] == Agency.police, "an emergency reaches the police first"
    assert set(agencies) == {Agency.police, Agency.civil_affairs, Agency.womens_federation, Agency.legal_aid}
    for event in decision.events:
        referral = decision.state.referral(event.referral_id)
        assert (referral.state, referral.holder, referral.created_at) == ("created", VILLAGE, NOW)
        assert event.ack_due_at == referral.ack_due_at == NOW + timedelta(hours=24), "red's deadline"
        assert event.details_url == f"https://referral.example/v1/referrals/{event.referral_id}"
        assert event.stage == Stage.written_review and event.emergency


def test_a_regrade_in_the_same_batch_moves_unacknowledged_deadlines_and_adds_only_new_agencies() -> None:
    blue = routed_case()
    first = referral_to(blue, Agency.civil_affairs)
    later = NOW + timedelta(hours=3)
    decision = route(blue, graded(blue.case_id, RiskLevel.red, emergency=True), POLICY, later)
    assert list(created(decision)) == [Agency.police], "civil affairs and the youth league already hold one"
    moved = decision.state.referral(first.id)
    assert moved.risk_level == "red" and moved.ack_due_at == first.created_at + timedelta(hours=24), (
        "red's hours, counted from when the referral was made"
    )
    assert created(decision)[Agency.police].ack_due_at == later + timedelta(hours=24)
    assert decision.state.case.risk_level == "red" and decision.state.case.emergency


def test_a_regrade_leaves_an_acknowledged_referral_alone_and_refers_again_where_the_last_one_closed() -> None:
    state = routed_case(RiskLevel.orange)
    civil = referral_to(state, Agency.civil_affairs)
    youth = referral_to(state, Agency.youth_league)
    state = answer(state, response(civil, "acknowledge"), NOW).state
    state = answer(state, response(youth, "decline", reason="outside_our_jurisdiction"), NOW).state
    decision = route(state, graded(state.case_id, RiskLevel.red), POLICY, NOW + timedelta(hours=1))
    kept = decision.state.referral(civil.id)
    assert (kept.state, kept.risk_level, kept.ack_due_at) == ("acknowledged", "orange", civil.ack_due_at)
    assert list(created(decision)) == [Agency.youth_league], "the declined agency is asked again"


def test_the_same_grade_twice_refers_nobody_twice() -> None:
    state = routed_case()
    again = route(state, graded(state.case_id), POLICY, NOW)
    assert again.events == () and len(again.state.referrals) == len(state.referrals)


def test_a_grade_older_than_the_one_in_force_read_late_from_the_ordinary_lane_changes_nothing() -> None:
    case_id = uuid.uuid4()
    first = route(CaseReferrals(case_id), graded(case_id, version=1), POLICY, NOW).state
    # The urgent lane applies the case's third grade (red, an emergency) before the ordinary lane
    # gets to its second (orange).
    later = NOW + timedelta(hours=1)
    red = route(first, graded(case_id, RiskLevel.red, emergency=True, version=3), POLICY, later)
    police = created(red)[Agency.police]
    assert police.ack_due_at == later + timedelta(hours=24) and red.state.case.assessed_version == 3
    stale = route(red.state, graded(case_id, RiskLevel.orange, version=2), POLICY, NOW + timedelta(hours=2))
    assert stale == Decision(red.state), "no new referral, no deadline moved"
    kept = stale.state.referral(police.referral_id)
    assert (kept.risk_level, kept.ack_due_at) == ("red", later + timedelta(hours=24)), "red's deadline"
    assert (stale.state.case.risk_level, stale.state.case.emergency) == ("red", True)
    same = route(red.state, graded(case_id, RiskLevel.orange, version=3), POLICY, NOW + timedelta(hours=2))
    assert same == Decision(red.state), "the grade in force, read again, changes nothing either"


def test_a_grade_without_a_version_applies_as_it_comes_and_keeps_the_version_in_force() -> None:
    case_id = uuid.uuid4()
    red = route(CaseReferrals(case_id), graded(case_id, RiskLevel.red, version=3), POLICY, NOW).state
    civil = referral_to(red, Agency.civil_affairs)
    later = NOW + timedelta(hours=1)
    decision = route(red, graded(case_id, RiskLevel.orange), POLICY, later)
    assert decision.state.case.risk_level == "orange" and decision.state.case.assessed_version == 3
    moved = decision.state.referral(civil.id)
    assert moved.risk_level == "orange" and moved.ack_due_at != civil.ack_due_at, "applied as before"
    unversioned = route(CaseReferrals(case_id), graded(case_id), POLICY, NOW).state
    assert unversioned.case.assessed_version is None
    regraded = route(unversioned, graded(case_id, RiskLevel.orange), POLICY, later).state
    assert regraded.case.risk_level == "orange" and regraded.case.assessed_version is None
    newer = route(decision.state, graded(case_id, RiskLevel.red, emergency=True, version=4), POLICY, later)
    assert newer.state.case.assessed_version == 4 and newer.state.case.risk_level == "red"


def test_answers_in_a_row_walk_the_lifecycle_and_the_first_acknowledgement_starts_services() -> None:
    state = routed_case()
    referral = referral_to(state, Agency.civil_affairs)
    acknowledged = answer(state, response(referral, "acknowledge"), NOW)
    started = answer(acknowledged.state, response(referral, "start"), NOW)
    done = answer(started.state, response(referral, "complete", outcome="successful"), NOW)
    events = [d.events[0] for d in (acknowledged, started, done)]
    assert [e.state for e in events] == ["acknowledged", "in_progress", "done"]
    assert {e.changed_by for e in events} == {"officer-1"}, "the timeline says which officer answered"
    assert [e.stage for e in events] == [Stage.services] * 3
    assert acknowledged.state.case.stage == "services"
    assert events[2].outcome == "successful" and events[0].outcome is None
    final = done.state.referral(referral.id)
    assert final.state == "done" and final.acknowledged_at == NOW - timedelta(minutes=5), (
        "acknowledged when the agency first answered"
    )
    assert final.responder_ref == "officer-1" and final.updated_at == NOW


def test_starting_work_acknowledges_and_a_stage_already_later_stays() -> None:
    state = routed_case(stage=Stage.monitoring)
    referral = referral_to(state, Agency.civil_affairs)
    started = answer(state, response(referral, "start"), NOW)
    assert started.state.referral(referral.id).acknowledged_at is not None
    assert started.events[0].stage == Stage.monitoring and started.state.case.stage == "monitoring"


def test_a_repeated_or_late_answer_changes_nothing_and_announces_nothing() -> None:
    state = routed_case()
    referral = referral_to(state, Agency.civil_affairs)
    declined = answer(state, response(referral, "decline", reason="outside_our_jurisdiction"), NOW)
    assert declined.events[0].reason == "outside_our_jurisdiction" and declined.events[0].outcome is None
    repeated = response(referral, "decline", reason="outside_our_jurisdiction")
    for late in (repeated, response(referral, "acknowledge")):
        assert answer(declined.state, late, NOW) == Decision(state=declined.state)


def test_answers_that_will_never_be_valid_are_refused_with_the_reason() -> None:
    state = routed_case()
    referral = referral_to(state, Agency.civil_affairs)
    with pytest.raises(ForeignAnswer, match="addressed to civil_affairs"):
        answer(state, response(referral, "acknowledge", agency="police"), NOW)
    with pytest.raises(IllegalTransition, match="cannot complete a referral that is created"):
        answer(state, response(referral, "complete", outcome="successful"), NOW)
    unknown = Referral(**{**referral.as_row(), "id": uuid.uuid4()})
    with pytest.raises(LookupError):
        answer(state, response(unknown, "acknowledge"), NOW)
    other_case = CaseReferrals(uuid.uuid4(), state.case)
    with pytest.raises(LookupError):
        answer(other_case, response(referral, "acknowledge"), NOW)


def test_an_overdue_referral_moves_one_level_up_with_a_new_deadline_and_stops_at_the_city() -> None:
    referral = referral_to(routed_case(RiskLevel.red, emergency=True), Agency.police)
    later = NOW + timedelta(hours=25)
    moved, event = escalate(referral, ROUTES, later)
    township = "140402001000"
    assert (moved.holder, moved.escalations, moved.ack_due_at) == (township, 1, later + timedelta(hours=24))
    assert isinstance(event, ReferralEscalated)
    assert (event.from_jurisdiction, event.to_jurisdiction, event.to_level) == (VILLAGE, township, "township")
    county, _ = escalate(moved, ROUTES, later)
    city, _ = escalate(county, ROUTES, later)
    assert (county.holder, city.holder, city.escalations) == ("140402000000", "140400000000", 3)
    assert escalate(city, ROUTES, later) is None, "the city is the top of the network"


def test_deadlines_follow_the_cases_own_territory_even_once_escalated() -> None:
    remote = ROUTES.model_copy(update={"ack_hours_by_territory": {"140402": {RiskLevel.red: 12}}})
    case_id = uuid.uuid4()
    state = route(
        CaseReferrals(case_id),
        graded(case_id, RiskLevel.red, emergency=True),
        Policy(remote, "https://referral.example"),
        NOW,
    ).state
    police = referral_to(state, Agency.police)
    assert police.ack_due_at == NOW + timedelta(hours=12)
    moved, _ = escalate(police, remote, NOW + timedelta(hours=13))
    assert moved.ack_due_at == NOW + timedelta(hours=25)


def test_a_withdrawal_ends_an_open_referral_and_tells_everyone_and_the_agency() -> None:
    state = routed_case(RiskLevel.red, emergency=True, categories=(Category.abuse,))
    police = referral_to(state, Agency.police)
    decision = withdraw(state, police.id, WithdrawalReason.wrong_agency, by="cw-1", now=NOW)
    changed, told = decision.events
    assert isinstance(changed, ReferralStatusChanged) and isinstance(told, ReferralWithdrawn)
    assert (changed.state, changed.reason, changed.changed_by) == (
        ReferralState.withdrawn,
        "wrong_agency",
        "cw-1",
    )
    assert (told.agency, told.reason, told.withdrawn_by) == (
        Agency.police,
        WithdrawalReason.wrong_agency,
        "cw-1",
    )
    ended = decision.state.referral(police.id)
    assert (ended.state, ended.reason, ended.responder_ref, ended.is_open) == (
        "withdrawn",
        "wrong_agency",
        "cw-1",
        False,
    )
    assert (
        withdraw(decision.state, police.id, WithdrawalReason.wrong_agency, by="cw-2", now=NOW).events == ()
    ), "withdrawing again changes nothing"
    with pytest.raises(IllegalTransition, match="cannot complete a referral that is withdrawn"):
        answer(decision.state, response(ended, "complete", outcome="successful"), NOW)
    with pytest.raises(LookupError):
        withdraw(state, uuid.uuid4(), WithdrawalReason.duplicate, by="cw-1", now=NOW)


def test_a_referral_the_agency_finished_is_not_withdrawn() -> None:
    state = routed_case(RiskLevel.blue)
    first = state.referrals[0]
    done = answer(
        answer(state, response(first, "acknowledge"), NOW).state,
        response(first, "complete", outcome="successful"),
        NOW,
    ).state
    with pytest.raises(IllegalTransition, match="withdraw a referral that is done"):
        withdraw(done, first.id, WithdrawalReason.no_longer_needed, by="cw-1", now=NOW)


def test_a_closed_case_keeps_no_open_referral() -> None:
    state = routed_case(RiskLevel.red, emergency=True, categories=(Category.abuse,))
    opened = [r for r in state.referrals if r.is_open]
    decision = case_closed(state, closed(state.case_id), NOW)
    assert not any(r.is_open for r in decision.state.referrals)
    told = [e for e in decision.events if isinstance(e, ReferralWithdrawn)]
    assert {e.referral_id for e in told} == {r.id for r in opened}
    assert {(e.reason, e.withdrawn_by) for e in told} == {(WithdrawalReason.case_closed, "casework")}
    assert case_closed(decision.state, closed(state.case_id), NOW).events == (), (
        "a closure heard twice changes nothing"
    )


def test_a_closed_case_keeps_no_open_service_of_its_plan() -> None:
    """Casework refuses a closure while it knows of an open service; one it did not know of yet (or a
    case merged away by a link) is withdrawn when the closure is heard, like a referral."""
    from tests.unit.test_service_provision import planned

    state = routed_case(RiskLevel.orange, categories=(Category.left_behind,))
    service, _ = planned()
    state = dataclasses.replace(state, services=(dataclasses.replace(service, case_id=state.case_id),))
    decision = case_closed(state, closed(state.case_id, ClosureReason.duplicate), NOW)
    assert [s.state for s in decision.state.services] == ["withdrawn"]
    told = [e for e in decision.events if isinstance(e, ServiceChanged)]
    assert [(e.state, e.reason, e.changed_by) for e in told] == [("withdrawn", "duplicate", "casework")]


def test_a_case_merged_away_by_a_link_has_its_referrals_withdrawn_as_duplicate() -> None:
    """Casework closes the case a link merged into another as a duplicate at once: its child is the
    other case's, so what the agencies were asked here is withdrawn as a duplicate, not as closed."""
    state = routed_case(RiskLevel.red, emergency=True, categories=(Category.abuse,))
    decision = case_closed(state, closed(state.case_id, ClosureReason.duplicate), NOW)
    assert not any(r.is_open for r in decision.state.referrals)
    told = [e for e in decision.events if isinstance(e, ReferralWithdrawn)]
    assert told and {e.reason for e in told} == {WithdrawalReason.duplicate}


def undone_link(case_id: uuid.UUID, surviving_case_id: uuid.UUID) -> ChildLinkUndone:
    return ChildLinkUndone(
        case_id=case_id,
        link_id=uuid.uuid4(),
        provisional_ref=uuid.uuid4(),
        child_ref=uuid.uuid4(),
        merged_child_ref=uuid.uuid4(),
        surviving_case_id=surviving_case_id,
        jurisdiction=VILLAGE,
        linked_at=NOW,
        reason=LinkUndoReason.wrong_child,
        undone_by="sup-1",
        undone_at=NOW,
    )


def test_an_undone_link_refers_the_case_it_gives_back_to_every_agency_its_grade_names_again() -> None:
    state = routed_case(RiskLevel.red, emergency=True, categories=(Category.abuse,))
    agencies = {r.agency for r in state.referrals}
    merged = case_closed(state, closed(state.case_id, ClosureReason.duplicate), NOW).state
    decision = link_undone(merged, undone_link(state.case_id, uuid.uuid4()), POLICY, NOW + timedelta(hours=1))
    again = created(decision)
    assert {a.value for a in again} == agencies and again[Agency.police].emergency
    assert {r.agency for r in decision.state.referrals if r.is_open} == agencies
    assert link_undone(decision.state, undone_link(state.case_id, uuid.uuid4()), POLICY, NOW).events == (), (
        "heard twice, nothing more is referred"
    )


def test_an_undone_link_leaves_the_case_that_remained_and_an_ungraded_case_alone() -> None:
    state = routed_case(RiskLevel.red, emergency=True, categories=(Category.abuse,))
    remained = link_undone(state, undone_link(state.case_id, state.case_id), POLICY, NOW)
    assert remained.events == () and remained.state == state
    never_graded = CaseReferrals(uuid.uuid4())
    undone = undone_link(never_graded.case_id, uuid.uuid4())
    assert link_undone(never_graded, undone, POLICY, NOW).events == ()


def test_a_reopened_case_is_referred_again_to_every_agency_its_grade_names_at_the_stage_it_reached() -> None:
    state = routed_case(RiskLevel.red, emergency=True, categories=(Category.abuse,))
    agencies = {r.agency for r in state.referrals}
    closed_case = case_closed(state, closed(state.case_id), NOW).state
    assert not [r for r in closed_case.referrals if r.is_open]
    event = CaseReopened(
        case_id=state.case_id,
        reason=ReopenReason.new_risk,
        reopened_by="cw-1",
        approved_by="sup-1",
        risk_level=RiskLevel.red,
        stage=Stage.services,
        closed_at=NOW,
        reopened_at=NOW + timedelta(hours=1),
    )
    decision = reopened(closed_case, event, POLICY, NOW + timedelta(hours=1))
    again = created(decision)
    assert {a.value for a in again} == agencies and again[Agency.police].emergency, "the police hear at once"
    assert {e.stage for e in again.values()} == {Stage.services} and decision.state.case.stage == "services"
    assert reopened(decision.state, event, POLICY, NOW).events == (), "heard twice, nothing more is referred"
    never_graded = CaseReferrals(uuid.uuid4())
    assert reopened(never_graded, event, POLICY, NOW).events == ()
