"""Follow-up's decisions, pure: how a grade, a referral's new state, the case's closure or reopening,
the visit sweep and a visit change a case's visit plan, and which events each yields.

No I/O here: the shell (visits.py) loads the plans of a whole batch, threads each event through
these functions in offset order, and saves once.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.followup.schedule import FollowupPolicy, cadence, may_close, next_visit_due, overdue_at
from shared.contracts.envelope import EventPayload
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
from shared.contracts.vocabulary import CaseStatus, Indicator, Need, RiskLevel, Stage, advance_stage
from shared.db.rows import TableRow


class UnexpectedEvent(TypeError):
    """An event follow-up has no rule for (e.g. one published to the wrong topic): it can never
    be applied, so it is dead-lettered at once."""


@dataclass(frozen=True)
class Plan(TableRow):
    """One row of `followup.plans`: a case's visit plan."""

    case_id: uuid.UUID
    plan_id: uuid.UUID
    state: str  # open | closed
    jurisdiction: str
    risk_level: str
    cadence_days: int
    response_due_at: datetime
    next_visit_due_at: datetime
    stage: str
    last_visit_at: datetime | None = None
    # The due date already announced as due / overdue: a sweep never announces one twice.
    due_announced_for: datetime | None = None
    overdue_announced_for: datetime | None = None
    updated_at: datetime | None = field(default=None, compare=False)
    child_ref: uuid.UUID | None = None  # from the grade: the child a read of the visits' notes names
    case_closed_at: datetime | None = None  # casework closed the case then (case.closed)
    case_reopened_at: datetime | None = None  # a person last reopened it then (case.reopened)


@dataclass(frozen=True)
class Decision:
    """What one event does to a case: its plan afterwards (None: it has none) and the events."""

    plan: Plan | None
    events: tuple[EventPayload, ...] = ()


def scheduled(
    plan: Plan | None,
    graded: CaseAssessed,
    policy: FollowupPolicy,
    now: datetime,
    *,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> Decision:
    """A (re-)graded case gets a plan at its grade's cadence; `followup.scheduled` says so,
    unless nothing about its visits changed."""
    level = graded.risk_level
    # The territory the plan has stays (shared/territory/transfers.py): a grade still naming the
    # old one after a transfer does not move the case back.
    jurisdiction = plan.jurisdiction if plan else graded.jurisdiction
    days = cadence(policy, level, jurisdiction=jurisdiction).days
    last_visit_at = plan.last_visit_at if plan else None
    due = next_visit_due(
        policy,
        level,
        jurisdiction=jurisdiction,
        response_due_at=graded.response_due_at,
        last_visit_at=last_visit_at,
    )
    child_ref = graded.child_ref or (plan.child_ref if plan else None)
    if plan is not None and (plan.risk_level, plan.cadence_days, plan.next_visit_due_at, plan.state) == (
        level.value,
        days,
        due,
        CaseStatus.open,
    ):
        return Decision(dataclasses.replace(plan, child_ref=child_ref))
    changes = {
        "state": CaseStatus.open.value,
        "jurisdiction": jurisdiction,
        "risk_level": level.value,
        "cadence_days": days,
        "response_due_at": graded.response_due_at,
        "next_visit_due_at": due,
        "stage": advance_stage(plan.stage if plan else None, graded.stage).value,
        "updated_at": now,
        "child_ref": child_ref,
    }
    if plan is None:
        plan = Plan(case_id=graded.case_id, plan_id=new_id(), **changes)
    else:
        plan = dataclasses.replace(plan, **changes)
    event = FollowupScheduled(
        case_id=graded.case_id,
        plan_id=plan.plan_id,
        risk_level=level,
        cadence_days=days,
        next_visit_due_at=due,
    )
    return Decision(plan, (event,))


def referral_changed(
    plan: Plan | None, change: ReferralStatusChanged, policy: FollowupPolicy, now: datetime
) -> Decision:
    """An agency's progress moves the case's stage forward (if follow-up has a plan yet)."""
    if plan is None:
        return Decision(None)
    return Decision(dataclasses.replace(plan, stage=advance_stage(plan.stage, change.stage).value))


def case_closed(plan: Plan | None, closed: CaseClosed, policy: FollowupPolicy, now: datetime) -> Decision:
    """A closed case is visited no more: its plan closes (no visit falls due, none is announced). A
    closure dated before the case's latest reopening is one that reopening reversed (casework dates
    every closure after the last reopening): read late, it changes nothing."""
    if plan is None or (plan.case_reopened_at is not None and closed.closed_at <= plan.case_reopened_at):
        return Decision(plan)
    return Decision(
        dataclasses.replace(
            plan,
            state=CaseStatus.closed.value,
            stage=Stage.closed.value,
            case_closed_at=closed.closed_at,
            updated_at=now,
        )
    )


def case_reopened(
    plan: Plan | None, reopened: CaseReopened, policy: FollowupPolicy, now: datetime
) -> Decision:
    """A person reopened the case: its plan opens again at the stage it reached, the next visit due by
    its grade's cadence from the last one (`followup.scheduled` says when). Read before the closure it
    reverses, it is remembered, and that closure then changes nothing."""
    if plan is None or (plan.case_reopened_at is not None and reopened.reopened_at <= plan.case_reopened_at):
        return Decision(plan)
    plan = dataclasses.replace(plan, case_reopened_at=reopened.reopened_at)
    if plan.state == CaseStatus.open or (
        plan.case_closed_at is not None and plan.case_closed_at > reopened.reopened_at
    ):
        return Decision(plan)
    level = RiskLevel(plan.risk_level)
    due = next_visit_due(
        policy,
        level,
        jurisdiction=plan.jurisdiction,
        response_due_at=plan.response_due_at,
        last_visit_at=plan.last_visit_at,
    )
    plan = dataclasses.replace(
        plan, state=CaseStatus.open.value, stage=reopened.stage.value, next_visit_due_at=due, updated_at=now
    )
    event = FollowupScheduled(
        case_id=plan.case_id,
        plan_id=plan.plan_id,
        risk_level=level,
        cadence_days=plan.cadence_days,
        next_visit_due_at=due,
    )
    return Decision(plan, (event,))


# The rule for each event follow-up consumes, by its payload type.
EVENT_RULES = {
    CaseAssessed: scheduled,
    ReferralStatusChanged: referral_changed,
    CaseClosed: case_closed,
    CaseReopened: case_reopened,
}


def decide(plan: Plan | None, payload: EventPayload, policy: FollowupPolicy, now: datetime) -> Decision:
    rule = EVENT_RULES.get(type(payload))
    if rule is None:
        raise UnexpectedEvent(f"follow-up has no rule for {payload.EVENT_TYPE} events")
    return rule(plan, payload, policy, now)


def latest_referral_states(changes: Iterable[ReferralStatusChanged]) -> list[dict[str, Any]]:
    """The rows of `followup.referral_states` after `changes` (in offset order): the last
    state of each referral wins; ordered by referral so that row locks are taken in order."""
    latest = {change.referral_id: change for change in changes}
    return [
        {"referral_id": r.referral_id, "case_id": r.case_id, "agency": r.agency.value, "state": r.state.value}
        for _, r in sorted(latest.items())
    ]


def announced(plan: Plan, policy: FollowupPolicy, now: datetime) -> Decision:
    """`followup.due` once per due date and `followup.overdue` once per missed one; the plan
    records each date announced, so no sweep announces it twice."""
    due = plan.next_visit_due_at
    events: list[EventPayload] = []
    changes: dict[str, datetime] = {}
    if plan.due_announced_for != due:
        events.append(
            FollowupDue(
                case_id=plan.case_id, plan_id=plan.plan_id, visit_due_at=due, jurisdiction=plan.jurisdiction
            )
        )
        changes["due_announced_for"] = due
    if overdue_at(policy, due) <= now and plan.overdue_announced_for != due:
        events.append(
            FollowupOverdue(
                case_id=plan.case_id, plan_id=plan.plan_id, visit_due_at=due, jurisdiction=plan.jurisdiction
            )
        )
        changes["overdue_announced_for"] = due
    return Decision(dataclasses.replace(plan, **changes), tuple(events))


@dataclass(frozen=True)
class Visit:
    """What a visitor recorded."""

    visit_id: uuid.UUID
    visited_at: datetime
    visitor_ref: str
    indicators: tuple[Indicator, ...] = ()
    needs_met: tuple[Need, ...] = ()
    needs_unmet: tuple[Need, ...] = ()

    @property
    def risk_found(self) -> bool:
        return bool(self.indicators)

    def as_row(self, case_id: uuid.UUID) -> dict[str, Any]:
        return {
            "id": self.visit_id,
            "case_id": case_id,
            "visited_at": self.visited_at,
            "visitor_ref": self.visitor_ref,
            "indicators": [i.value for i in self.indicators],
            "needs_met": [n.value for n in self.needs_met],
            "needs_unmet": [n.value for n in self.needs_unmet],
            "risk_found": self.risk_found,
        }


@dataclass(frozen=True)
class VisitOutcome:
    visit_id: uuid.UUID
    next_visit_due_at: datetime | None
    reassessment_requested: bool
    closed: bool


@dataclass(frozen=True)
class Visited:
    plan: Plan
    events: tuple[EventPayload, ...]
    outcome: VisitOutcome


def visited(
    plan: Plan,
    visit: Visit,
    *,
    earlier_visits: Sequence[tuple[datetime, bool]],
    open_referrals: int,
    policy: FollowupPolicy,
    now: datetime,
) -> Visited:
    """A recorded visit: the next one falls a cadence after the latest visit; new risk or
    unmet needs go back to assessment; a blue case whose referrals are all done and whose
    last visits were clean meets the closure rule (casework closes it). `earlier_visits` are
    (visited_at, risk_found), in the order they were visited and recorded."""
    level = RiskLevel(plan.risk_level)
    last = max(filter(None, [plan.last_visit_at, visit.visited_at]))
    due = last + cadence(policy, level, jurisdiction=plan.jurisdiction)
    stage = advance_stage(plan.stage, Stage.monitoring)
    events: list[EventPayload] = [
        FollowupVisitRecorded(
            case_id=plan.case_id,
            visit_id=visit.visit_id,
            visited_at=visit.visited_at,
            visitor_ref=visit.visitor_ref,
            indicators=list(visit.indicators),
            needs_met=list(visit.needs_met),
            needs_unmet=list(visit.needs_unmet),
            risk_found=visit.risk_found,
            stage=stage,
        )
    ]
    reassess = visit.risk_found or bool(visit.needs_unmet)
    if reassess:
        # Monitoring feeds intervention: what the visit found goes back to assessment.
        reason = "visit_found_new_risk" if visit.risk_found else "visit_found_unmet_needs"
        events.append(
            CaseReassessmentRequested(
                case_id=plan.case_id,
                visit_id=visit.visit_id,
                indicators=list(visit.indicators),
                unmet_needs=list(visit.needs_unmet),
                reason=reason,
                requested_at=now,
            )
        )
    # The new visit is the last recorded: a stable sort keeps it after earlier ones of its time.
    history = sorted([*earlier_visits, (visit.visited_at, visit.risk_found)], key=lambda v: v[0])
    closed = not reassess and may_close(
        policy,
        risk_level=level,
        open_referrals=open_referrals,
        visits_found_risk=[risk for _, risk in history],
    )
    plan = dataclasses.replace(
        plan, last_visit_at=last, next_visit_due_at=due, stage=stage.value, updated_at=now
    )
    if closed:
        # Follow-up's watch ends here; casework, which owns closure, closes the case on hearing it.
        plan = dataclasses.replace(plan, state=CaseStatus.closed.value, stage=Stage.closed.value)
        events.append(
            FollowupClosureRuleMet(
                case_id=plan.case_id,
                plan_id=plan.plan_id,
                visit_id=visit.visit_id,
                risk_level=level,
                met_at=now,
            )
        )
    outcome = VisitOutcome(visit.visit_id, None if closed else due, reassess, closed)
    return Visited(plan, tuple(events), outcome)
