"""Casework's decisions, pure: how each event the case's other services publish changes the case
as a whole (its territory, grade, stage, what is due next, the referrals it waits on), who owns
it, and which events that yields.

The topics a case's events travel on are not ordered among themselves (a grade may be read before
the report it grades), so every rule merges what its event says in a way that does not depend on
the order: stages only move forward, a referral's state only along its lifecycle, and a case closes
by follow-up's rule only when the rule was met after its latest report. Casework is where a case
closes (`closing`): by that rule, on a supervisor's approval, screened out at review, or merged into
another case by a link (reopened when the link is undone); and where a person reopens a closed case
(`reopening`). No I/O here: the shell (cases.py) loads a batch's cases, threads each event through
`decide` in offset order and saves once.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Literal, TypeVar

from services.casework.policy import CaseworkPolicy
from shared.case_number import CHINA_STANDARD_TIME
from shared.contracts.envelope import EventPayload
from shared.contracts.events import (
    ApprovalKind,
    CaseApprovalDecided,
    CaseApprovalRequested,
    CaseAssessed,
    CaseAssigned,
    CaseClosed,
    CaseEscalated,
    CaseReopened,
    CaseReported,
    CaseReviewed,
    CaseTransferred,
    ChildLinked,
    ChildLinkUndone,
    ConsentWithdrawn,
    FollowupClosureRuleMet,
    FollowupScheduled,
    FollowupVisitRecorded,
    ReferralCreated,
    ReferralEscalated,
    ReferralStatusChanged,
    ReferralWithdrawn,
    ReviewDecision,
    ServiceChanged,
    ServiceEscalated,
)
from shared.contracts.vocabulary import (
    CLOSURE_NEEDS_RECENT_VISIT,
    OPEN_REFERRAL_STATES,
    OPEN_SERVICE_STATES,
    CaseStatus,
    Category,
    ClosureReason,
    ReferralState,
    ReopenReason,
    RiskLevel,
    ScreenOutReason,
    Stage,
    TransferReason,
    advance_stage,
)
from shared.db.rows import TableRow
from shared.territory.code import TerritoryCode, TerritoryLevel, node_at

ReasonT = TypeVar("ReasonT", bound=StrEnum)
# Sorted after every dated case: a case with nothing due yet.
NEVER = datetime(9999, 12, 31, tzinfo=UTC)
# The worklist's order: a child in immediate danger before every other case, then red, orange, blue,
# then a case not graded yet.
EMERGENCY = 0
URGENCY = {RiskLevel.red.value: 1, RiskLevel.orange.value: 2, RiskLevel.blue.value: 3}
NOT_GRADED = 4
# A referral's state only moves along its lifecycle: created, then acknowledged, in progress,
# then done, declined or withdrawn (which end it).
_REFERRAL_RANK = {
    ReferralState.created: 0,
    ReferralState.acknowledged: 1,
    ReferralState.in_progress: 2,
    ReferralState.done: 3,
    ReferralState.declined: 3,
    ReferralState.withdrawn: 3,
}


class UnexpectedEvent(TypeError):
    """An event casework has no rule for (e.g. published to the wrong topic): never valid."""


class Refused(ValueError):
    """What the case's state does not allow (409); the message says why."""


class NotYours(PermissionError):
    """The caller may see the case but this is not theirs to do (403); the message says whose it is."""


class ReasonRequired(ValueError):
    """A reason code is missing or not one this action takes (422, naming the field `reason`)."""


class NotACaseworker(ValueError):
    """The person a case is to be assigned to is not, on the directory's word, an active caseworker
    whose territory holds the case (422, naming the field `caseworker`)."""


@dataclass(frozen=True)
class DirectoryEntry:
    """What the directory (the console, through the tokens' issuer) vouches for about a person now:
    that they are an active user of this role, working this territory."""

    subject: str
    role: str
    jurisdiction: str


class OpenReferrals(Refused):
    """A case does not close while an agency still holds a referral of it (409): each is withdrawn
    with a reason first. `referrals` names them."""

    def __init__(self, referrals: Iterable[ReferralFact]) -> None:
        self.referrals = tuple(sorted(referrals, key=lambda r: (r.agency, str(r.referral_id))))
        named = ", ".join(f"{r.agency} ({r.referral_id}, {r.state})" for r in self.referrals)
        super().__init__(f"the case still has open referrals: {named}; withdraw each with a reason first")


class OpenServices(Refused):
    """A case does not close while a service of its plan is still owed (409): each is delivered, ended
    with a reason by its provider, or withdrawn with a reason first. `services` names them."""

    def __init__(self, services: Iterable[ServiceFact]) -> None:
        self.services = tuple(sorted(services, key=lambda s: (s.kind, str(s.service_id))))
        named = ", ".join(f"{s.kind} ({s.service_id}, {s.state})" for s in self.services)
        super().__init__(
            f"the case still has open services: {named}; each is delivered, ended or withdrawn first"
        )


class NoRecentVisit(Refused):
    """A red or orange case closes as safe only after a follow-up visit saw the child recently (409)."""


class MergedByLink(Refused):
    """A case a link merged into another (closed as a duplicate) is reopened by undoing the link, not by a
    person's reopening (409). `into` is the case it was merged into, if casework knows it."""

    def __init__(self, message: str, into: CaseFile | None = None) -> None:
        super().__init__(message)
        self.into = into


class ChildHasOpenCase(Refused):
    """The child's reports are in another case that is open (409): that one is worked on instead (intake
    keeps one open case per child). `case` is it."""

    def __init__(self, case: CaseFile) -> None:
        named = case.case_number or case.case_id
        super().__init__(f"the child has another open case, {named}: work on it instead")
        self.case = case


@dataclass(frozen=True)
class CaseFile(TableRow):
    """One row of `casework.cases`."""

    case_id: uuid.UUID
    last_activity_at: datetime
    categories: tuple[str, ...] = ()
    stage: str = Stage.screening.value
    state: str = CaseStatus.open.value
    child_ref: uuid.UUID | None = None
    jurisdiction: str | None = None
    risk_level: str | None = None
    initial_risk_level: str | None = None
    owner_node: str | None = None
    owner_ref: str | None = None
    assigned_at: datetime | None = None
    reported_at: datetime | None = None
    graded_at: datetime | None = None
    review_due_at: datetime | None = None
    reviewed_at: datetime | None = None
    review_escalated_for: datetime | None = None
    blind_spot_escalated_at: datetime | None = None
    visit_due_at: datetime | None = None
    closed_at: datetime | None = None
    closed_reason: str | None = None
    closed_from_stage: str | None = None  # the stage it had reached: an undone link reopens it there
    closed_risk_level: str | None = None  # the grade when it closed: red, its reopening needs a supervisor
    reopened_at: datetime | None = None  # when a person last reopened it
    merged_into: uuid.UUID | None = None  # the case a link standing merged it into
    closure_rule_met_at: datetime | None = None
    case_number: str | None = None
    emergency: bool = False
    last_visited_at: datetime | None = None
    pending_approvals: int = 0
    # Derived (derive()): what the worklist sorts and filters on.
    open_referrals: int = 0
    next_due_at: datetime | None = None
    next_due_kind: str | None = None
    urgency: int = NOT_GRADED
    sort_due_at: datetime = NEVER
    updated_at: datetime | None = field(default=None, compare=False)

    SEQUENCES: ClassVar[tuple[str, ...]] = ("categories",)


@dataclass(frozen=True)
class ReferralFact(TableRow):
    """One row of `casework.referrals`: what the case waits on from an agency."""

    referral_id: uuid.UUID
    case_id: uuid.UUID
    agency: str
    state: str
    ack_due_at: datetime | None = None


@dataclass(frozen=True)
class ServiceFact(TableRow):
    """One row of `casework.services`: a service of the case's plan, as referral last announced it."""

    service_id: uuid.UUID
    case_id: uuid.UUID
    kind: str
    state: str
    due_at: datetime  # the end of its due date, China Standard Time
    changed_at: datetime  # of the latest change applied: an older one read late changes nothing

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_SERVICE_STATES


@dataclass(frozen=True)
class CaseState:
    """A case, its referrals and its plan's services, as one decision sees them."""

    case: CaseFile | None
    referrals: Mapping[uuid.UUID, ReferralFact] = field(default_factory=dict)
    services: Mapping[uuid.UUID, ServiceFact] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    state: CaseState
    events: tuple[EventPayload, ...] = ()


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return max(filter(None, (a, b)), default=None)


def _blank(case_id: uuid.UUID, at: datetime) -> CaseFile:
    return CaseFile(case_id=case_id, last_activity_at=at)


def _touched(case: CaseFile | None, case_id: uuid.UUID, at: datetime, **changes: Any) -> CaseFile:
    case = case or _blank(case_id, at)
    return dataclasses.replace(case, last_activity_at=max(case.last_activity_at, at), **changes)


def _categories(case: CaseFile | None, named: Iterable[Category]) -> tuple[str, ...]:
    """A case's categories: every one any report or grade named (a case may have several)."""
    return tuple(sorted({*(case.categories if case else ()), *(c.value for c in named)}))


def _stage(case: CaseFile | None, stage: Stage) -> str:
    current = case.stage if case else None
    if current == Stage.closed.value:
        return current  # a closed case moves only when a report reopens it
    return advance_stage(current, stage).value


def _number(case: CaseFile | None, named: str | None) -> str | None:
    """A case keeps the number it opened with (intake gives it once); an event may bring it first."""
    return case.case_number if case and case.case_number else named


def reported(state: CaseState, event: CaseReported, policy: CaseworkPolicy, at: datetime) -> CaseState:
    case = state.case
    categories = _categories(case, event.categories)
    latest = _later(case.reported_at if case else None, event.reported_at)
    changes: dict[str, Any] = {
        "child_ref": event.child_ref,
        "categories": categories,
        "reported_at": latest,
        "jurisdiction": (case.jurisdiction if case and case.jurisdiction else event.jurisdiction),
        "case_number": _number(case, event.case_number),
    }
    if case is not None and case.closed_at is not None and latest > case.closed_at:
        # A new report about a closed case reopens it: back to screening, and to review.
        changes.update(state=CaseStatus.open.value, stage=Stage.screening.value, reviewed_at=None)
    else:
        changes["stage"] = _stage(case, Stage.screening)
    return dataclasses.replace(state, case=_touched(case, event.case_id, at, **changes))


def assessed(state: CaseState, event: CaseAssessed, policy: CaseworkPolicy, at: datetime) -> CaseState:
    case = state.case
    jurisdiction = case.jurisdiction if case and case.jurisdiction else event.jurisdiction
    graded_at = (case.graded_at if case else None) or at
    # A case a person reopened is reviewed again counting from the reopening.
    review_from = max(graded_at, case.reopened_at) if case and case.reopened_at else graded_at
    changes: dict[str, Any] = {
        "jurisdiction": jurisdiction,
        "risk_level": event.risk_level.value,
        "initial_risk_level": event.initial_risk_level.value,
        "graded_at": graded_at,
        "emergency": event.emergency,
        "case_number": _number(case, event.case_number),
        "categories": _categories(case, event.categories),
        "stage": _stage(case, event.stage),
        # The review is due a grade's hours after the case was first graded (or reopened); a graver
        # re-grade before it is recorded brings it forward.
        "review_due_at": review_from + policy.review_within(event.risk_level, jurisdiction),
    }
    return dataclasses.replace(state, case=_touched(case, event.case_id, at, **changes))


def _with_referral(state: CaseState, fact: ReferralFact) -> dict[uuid.UUID, ReferralFact]:
    known = state.referrals.get(fact.referral_id)
    if known is not None:
        later = _REFERRAL_RANK[ReferralState(fact.state)] > _REFERRAL_RANK[ReferralState(known.state)]
        fact = dataclasses.replace(
            known, state=fact.state if later else known.state, ack_due_at=fact.ack_due_at or known.ack_due_at
        )
    return {**state.referrals, fact.referral_id: fact}


def referred(state: CaseState, event: ReferralCreated, policy: CaseworkPolicy, at: datetime) -> CaseState:
    case = state.case
    referrals = _with_referral(
        state,
        ReferralFact(
            event.referral_id,
            event.case_id,
            event.agency.value,
            ReferralState.created.value,
            event.ack_due_at,
        ),
    )
    changes = {
        "jurisdiction": case.jurisdiction if case and case.jurisdiction else event.jurisdiction,
        "stage": _stage(case, event.stage),
    }
    return CaseState(_touched(case, event.case_id, at, **changes), referrals, state.services)


def referral_changed(
    state: CaseState, event: ReferralStatusChanged, policy: CaseworkPolicy, at: datetime
) -> CaseState:
    referrals = _with_referral(
        state, ReferralFact(event.referral_id, event.case_id, event.agency.value, event.state.value)
    )
    case = _touched(state.case, event.case_id, at, stage=_stage(state.case, event.stage))
    return CaseState(case, referrals, state.services)


def withdrawn(state: CaseState, event: ReferralWithdrawn, policy: CaseworkPolicy, at: datetime) -> CaseState:
    """Told on the agency's topic that a referral was withdrawn (referral.status says it too, in
    whichever order the two are read)."""
    referrals = _with_referral(
        state,
        ReferralFact(event.referral_id, event.case_id, event.agency.value, ReferralState.withdrawn.value),
    )
    return CaseState(_touched(state.case, event.case_id, at), referrals, state.services)


def consent_withdrawn(
    state: CaseState, event: ConsentWithdrawn, policy: CaseworkPolicy, at: datetime
) -> CaseState:
    """Intake's word to an agency's kit, read on the agency's topic with its referrals' withdrawals: the
    consent is intake's to keep, the case's work goes on as it was."""
    return state


def referral_escalated(
    state: CaseState, event: ReferralEscalated, policy: CaseworkPolicy, at: datetime
) -> CaseState:
    """An agency's referral moved up the territory tree: its acknowledgement is due anew. (The sweep's
    rule that escalates a case itself is `escalated`, below.)"""
    known = state.referrals.get(event.referral_id)
    fact = (
        dataclasses.replace(known, ack_due_at=event.ack_due_at)
        if known
        else ReferralFact(
            event.referral_id,
            event.case_id,
            event.agency.value,
            ReferralState.created.value,
            event.ack_due_at,
        )
    )
    referrals = {**state.referrals, fact.referral_id: fact}
    return CaseState(_touched(state.case, event.case_id, at), referrals, state.services)


def service_changed(
    state: CaseState, event: ServiceChanged, policy: CaseworkPolicy, at: datetime
) -> CaseState:
    """A service of the plan was planned, moved on or ended: the case is at its services stage, and a
    change older than the one applied (read late) changes nothing."""
    known = state.services.get(event.service_id)
    if known is not None and known.changed_at > event.changed_at:
        return state
    fact = ServiceFact(
        event.service_id,
        event.case_id,
        event.kind.value,
        event.state.value,
        service_due_at(event.due_on),
        event.changed_at,
    )
    case = _touched(state.case, event.case_id, at, stage=_stage(state.case, event.stage))
    return CaseState(case, state.referrals, {**state.services, fact.service_id: fact})


def service_escalated(
    state: CaseState, event: ServiceEscalated, policy: CaseworkPolicy, at: datetime
) -> CaseState:
    """A service left open past its due date moved up the territory: referral holds its supervisors to
    it; the case is touched (its due date stays what it was)."""
    return dataclasses.replace(state, case=_touched(state.case, event.case_id, at))


def service_due_at(day: date) -> datetime:
    """When a service due on `day` is late: the next midnight in China Standard Time."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=CHINA_STANDARD_TIME)


def scheduled(state: CaseState, event: FollowupScheduled, policy: CaseworkPolicy, at: datetime) -> CaseState:
    return dataclasses.replace(
        state, case=_touched(state.case, event.case_id, at, visit_due_at=event.next_visit_due_at)
    )


def visited(
    state: CaseState, event: FollowupVisitRecorded, policy: CaseworkPolicy, at: datetime
) -> CaseState:
    last = _later(state.case.last_visited_at if state.case else None, event.visited_at)
    return dataclasses.replace(
        state,
        case=_touched(
            state.case, event.case_id, at, last_visited_at=last, stage=_stage(state.case, event.stage)
        ),
    )


def closure_rule_met(
    state: CaseState, event: FollowupClosureRuleMet, policy: CaseworkPolicy, at: datetime
) -> CaseState:
    """Follow-up's closure rule was met; `closed_by_rule` closes the case once it is known to be
    a blue one and no report came after."""
    met = _later(state.case.closure_rule_met_at if state.case else None, event.met_at)
    return dataclasses.replace(state, case=_touched(state.case, event.case_id, at, closure_rule_met_at=met))


def child_linked(state: CaseState, event: ChildLinked, policy: CaseworkPolicy, at: datetime) -> Decision:
    """A person identified a provisional child and two cases became one: the case merged away (this
    event's) closes as a duplicate at once, though agencies may still hold referrals of it — its child is
    protected under the case that remains, with that case's owner and referrals, and referral withdraws
    what this one still holds as `duplicate` when it hears of the closure. A child given its identity
    keeps its case as it is; a case closed already stays closed."""
    case = _touched(state.case, event.case_id, at)
    if event.case_id == event.surviving_case_id:
        return Decision(dataclasses.replace(state, case=case))
    # Remembered open or closed: a case merged away is not reopened by a person, only by the undo.
    case = dataclasses.replace(case, merged_into=event.surviving_case_id)
    if case.state != CaseStatus.open:
        return Decision(dataclasses.replace(state, case=case))
    case, closure = closing(case, ClosureReason.duplicate, event.linked_at)
    return Decision(dataclasses.replace(state, case=case), (closure,))


def link_undone(state: CaseState, event: ChildLinkUndone, policy: CaseworkPolicy, at: datetime) -> CaseState:
    """A supervisor undid the link that merged this case away: it reopens at the stage it had reached,
    with its owner (the referrals the closure withdrew are made again by referral). A case the link did
    not close (closed before it, or since reopened) is left as it is."""
    case = _touched(state.case, event.case_id, at)
    if event.case_id != event.surviving_case_id and case.merged_into == event.surviving_case_id:
        case = dataclasses.replace(case, merged_into=None)
    closed_by_link = (
        case.state == CaseStatus.closed
        and case.closed_reason == ClosureReason.duplicate.value
        and case.closed_at is not None
        and case.closed_at >= event.linked_at
    )
    if event.case_id == event.surviving_case_id or not closed_by_link:
        return dataclasses.replace(state, case=case)
    case = dataclasses.replace(
        case,
        state=CaseStatus.open.value,
        stage=case.closed_from_stage or Stage.screening.value,
        closed_at=None,
        closed_reason=None,
        closed_from_stage=None,
        closed_risk_level=None,
    )
    return dataclasses.replace(state, case=case)


EVENT_RULES = {
    CaseReported: reported,
    CaseAssessed: assessed,
    ReferralCreated: referred,
    ReferralStatusChanged: referral_changed,
    ReferralWithdrawn: withdrawn,
    ConsentWithdrawn: consent_withdrawn,
    ReferralEscalated: referral_escalated,
    ServiceChanged: service_changed,
    ServiceEscalated: service_escalated,
    FollowupScheduled: scheduled,
    FollowupVisitRecorded: visited,
    FollowupClosureRuleMet: closure_rule_met,
    ChildLinked: child_linked,
    ChildLinkUndone: link_undone,
}


def station_of(jurisdiction: str) -> str:
    """The node answerable for a case of `jurisdiction`: its township (the node itself when it
    lies above township level)."""
    return node_at(jurisdiction, TerritoryLevel.township)


def owned(state: CaseState, at: datetime) -> Decision:
    """A case whose territory is known is owned at once by its township station (by rule)."""
    case = state.case
    if case is None or case.jurisdiction is None or case.owner_node is not None:
        return Decision(state)
    station = station_of(case.jurisdiction)
    case = dataclasses.replace(case, owner_node=station, assigned_at=at)
    event = CaseAssigned(
        case_id=case.case_id,
        jurisdiction=case.jurisdiction,
        owner_node=station,
        owner_ref=None,
        assigned_at=at,
    )
    return Decision(dataclasses.replace(state, case=case), (event,))


def require_open(case: CaseFile) -> None:
    """What only an open case allows (Refused, 409, otherwise)."""
    if case.state != CaseStatus.open:
        raise Refused(
            "the case is closed; a new report reopens it, or its owner or a supervisor "
            "(POST /v1/cases/{case_id}/reopening)"
        )


def closing(case: CaseFile, reason: ClosureReason, now: datetime) -> tuple[CaseFile, CaseClosed]:
    """Casework closes the case: the one place a case closes (by follow-up's rule, on an approved
    request, screened out, merged away by a link). A closure is dated after the case's latest report
    and after a person last reopened it — so intake, which reads closures and reopenings on two topics,
    tells by the moments alone which came last (a link made before a reopening casework had not heard
    of yet still closes the reopened case after it)."""
    closed_at = max(now, case.reported_at or now)
    if case.reopened_at is not None and closed_at <= case.reopened_at:
        closed_at = case.reopened_at + timedelta(microseconds=1)
    case = dataclasses.replace(
        case,
        state=CaseStatus.closed.value,
        stage=Stage.closed.value,
        closed_at=closed_at,
        closed_reason=reason.value,
        closed_from_stage=case.stage,
        closed_risk_level=case.risk_level,
        last_activity_at=max(case.last_activity_at, now),
    )
    return case, CaseClosed(case_id=case.case_id, reason=reason.value, closed_at=closed_at)


def open_referrals(state: CaseState) -> list[ReferralFact]:
    return [r for r in state.referrals.values() if ReferralState(r.state) in OPEN_REFERRAL_STATES]


def open_services(state: CaseState) -> list[ServiceFact]:
    return [s for s in state.services.values() if s.is_open]


def closable(state: CaseState, reason: ClosureReason, policy: CaseworkPolicy, now: datetime) -> None:
    """Closure only when it is safe: no agency still holds an open referral (each is withdrawn with
    a reason first), and a red or orange case closed as safe was seen by a follow-up visit within
    the policy's days. Raises OpenReferrals or NoRecentVisit (both 409)."""
    case = state.case
    require_open(case)
    still_open = open_referrals(state)
    if still_open:
        raise OpenReferrals(still_open)
    owed = open_services(state)
    if owed:
        raise OpenServices(owed)
    if (
        reason in CLOSURE_NEEDS_RECENT_VISIT
        and case.risk_level in (RiskLevel.red.value, RiskLevel.orange.value)
        and (case.last_visited_at is None or case.last_visited_at < now - policy.closure_visit_within)
    ):
        raise NoRecentVisit(
            f"a {case.risk_level} case closes as {reason.value} only after a follow-up visit in "
            f"the last {policy.closure_visit_within.days} days; record the visit first"
        )


def closed_by_rule(state: CaseState, at: datetime) -> Decision:
    """An open blue case closes when follow-up's closure rule was met after its latest report (a
    report since then is new risk: the case stays open) and after a person last reopened it, and no
    referral of it is still open."""
    case = state.case
    met = case.closure_rule_met_at if case else None
    if (
        case is None
        or met is None
        or case.state != CaseStatus.open
        or case.risk_level != RiskLevel.blue.value
        or case.reported_at is None
        or met <= case.reported_at
        or (case.reopened_at is not None and met <= case.reopened_at)
        or open_referrals(state)
        or open_services(state)
    ):
        return Decision(state)
    case, event = closing(case, ClosureReason.risk_resolved, met)
    return Decision(dataclasses.replace(state, case=case), (event,))


DueKind = Literal["review", "referral", "visit", "service"]
"""What is due next on a case: the written review, an agency's acknowledgement, a visit, a service of its
plan."""


def derive(state: CaseState) -> CaseState:
    """The worklist's columns from the case and its referrals: open referrals, what is due next
    and when, the urgency the list sorts by."""
    case = state.case
    if case is None:
        return state
    open_refs = open_referrals(state)
    due: list[tuple[datetime, DueKind]] = []
    if case.state == CaseStatus.open:
        if case.review_due_at is not None and case.reviewed_at is None:
            due.append((case.review_due_at, "review"))
        due += [
            (r.ack_due_at, "referral")
            for r in open_refs
            if r.state == ReferralState.created.value and r.ack_due_at is not None
        ]
        if case.visit_due_at is not None:
            due.append((case.visit_due_at, "visit"))
        due += [(s.due_at, "service") for s in open_services(state)]
    next_due = min(due, default=(None, None))
    derived = {
        "open_referrals": len(open_refs),
        "next_due_at": next_due[0],
        "blind_spot_escalated_at": (
            case.blind_spot_escalated_at if case.owner_node is None or next_due[0] is None else None
        ),
        "next_due_kind": next_due[1],
        "sort_due_at": next_due[0] or NEVER,
        "urgency": EMERGENCY if case.emergency else URGENCY.get(case.risk_level, NOT_GRADED),
    }
    # Most events leave the derived columns as they were: no copy then (a frozen dataclass's copy
    # sets every field again, and this runs for every event casework reads).
    if all(getattr(case, name) == value for name, value in derived.items()):
        return state
    return dataclasses.replace(state, case=dataclasses.replace(case, **derived))


def decide(state: CaseState, payload: EventPayload, policy: CaseworkPolicy, at: datetime) -> Decision:
    """One event of the case's other services: merged into the case, owned if it was not, derived."""
    rule = EVENT_RULES.get(type(payload))
    if rule is None:
        raise UnexpectedEvent(f"casework has no rule for {payload.EVENT_TYPE} events")
    merged = rule(state, payload, policy, at)
    merged = merged if isinstance(merged, Decision) else Decision(merged)
    ownership = owned(merged.state, at)
    closure = closed_by_rule(ownership.state, at)
    return Decision(derive(closure.state), merged.events + ownership.events + closure.events)


def require_caseworker_of(case: CaseFile, caseworker: str, entry: DirectoryEntry | None) -> None:
    """A case is owned by an active caseworker whose territory holds it, as the directory vouches
    (NotACaseworker otherwise): never an agency's officer, a caseworker of another county, or a name
    nobody has."""
    if entry is None or entry.subject != caseworker:
        raise NotACaseworker("the directory does not vouch for this caseworker (caseworker_token)")
    if entry.role != "caseworker":
        raise NotACaseworker("not a caseworker: a case is owned by a caseworker")
    if not case.jurisdiction or not case.jurisdiction.startswith(entry.jurisdiction):
        raise NotACaseworker("a caseworker of another territory than the case's")


def assigned(
    case: CaseFile,
    caseworker: str,
    *,
    supervisor: str,
    reason: str | None,
    now: datetime,
    entry: DirectoryEntry | None,
) -> Decision:
    """A supervisor names the caseworker who owns the case: an active caseworker of its territory, on
    the directory's word. Naming the owner again changes nothing; replacing a named owner needs a
    reason code."""
    require_open(case)
    if case.owner_ref == caseworker:
        return Decision(CaseState(case))
    require_caseworker_of(case, caseworker, entry)
    previous = case.owner_ref
    if previous is not None and reason is None:
        raise ReasonRequired("replacing the case's owner needs a reason")
    owner_node = case.owner_node or station_of(case.jurisdiction)
    event = CaseAssigned(
        case_id=case.case_id,
        jurisdiction=case.jurisdiction,
        owner_node=owner_node,
        owner_ref=caseworker,
        previous_owner_ref=previous,
        assigned_by=supervisor,
        reason=reason if previous is not None else None,
        assigned_at=now,
    )
    case = dataclasses.replace(
        case,
        owner_node=owner_node,
        owner_ref=caseworker,
        assigned_at=now,
        last_activity_at=max(case.last_activity_at, now),
    )
    return Decision(CaseState(case), (event,))


# ---- no case waits unseen ----------------------------------------------------------------------


def county_of(jurisdiction: str) -> str:
    """Whose supervisors hear of a case that waits: its county (or its own node, above county)."""
    return node_at(jurisdiction, TerritoryLevel.county)


def blind_spot(case: CaseFile) -> str | None:
    """Why an open case is a blind spot — no owner, or nothing due — or None."""
    if case.owner_node is None:
        return "no_owner"
    if case.next_due_at is None:
        return "nothing_due"
    return None


def escalated(case: CaseFile, policy: CaseworkPolicy, now: datetime) -> Decision:
    """The sweep's rule: a written review past its deadline goes to the county's supervisors once
    per deadline; a blind spot, once it has lasted the grace, once until it is mended."""
    if case.state != CaseStatus.open or case.jurisdiction is None:
        return Decision(CaseState(case))
    county = county_of(case.jurisdiction)
    to = {
        "case_id": case.case_id,
        "risk_level": RiskLevel(case.risk_level) if case.risk_level else None,
        "jurisdiction": case.jurisdiction,
        "to_jurisdiction": county,
        "to_level": TerritoryCode(county).level,
        "escalated_at": now,
    }
    events: list[EventPayload] = []
    changes: dict[str, Any] = {}
    due = case.review_due_at
    if case.reviewed_at is None and due is not None and due <= now and case.review_escalated_for != due:
        events.append(CaseEscalated(reason="review_overdue", due_at=due, **to))
        changes["review_escalated_for"] = due
    spot = blind_spot(case)
    if (
        spot
        and case.blind_spot_escalated_at is None
        and case.last_activity_at <= now - policy.blind_spot_after
    ):
        events.append(CaseEscalated(reason=spot, **to))
        changes["blind_spot_escalated_at"] = now
    return Decision(CaseState(dataclasses.replace(case, **changes)), tuple(events))


# ---- the written review and what needs a supervisor's approval ----------------------------------


@dataclass(frozen=True)
class Approval(TableRow):
    """One row of `casework.approvals`."""

    approval_id: uuid.UUID
    case_id: uuid.UUID
    kind: str  # screen_out | close | transfer | reopen
    reason: str
    jurisdiction: str
    requested_by: str
    requested_at: datetime
    state: str = "pending"  # pending | approved | rejected
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    to_jurisdiction: str | None = None  # a transfer's destination: whose supervisors decide


CLOSING_REASONS = frozenset(ClosureReason) - {ClosureReason.screened_out}  # screened out: by review


def require_reviewable(case: CaseFile) -> None:
    """The written review comes once, on an open case that is graded (Refused otherwise)."""
    require_open(case)
    if case.risk_level is None:
        raise Refused("the case is not graded yet: it is reviewed after grading")
    if case.reviewed_at is not None:
        raise Refused("the case's written review is recorded already")


def _reason_in(vocabulary: type[ReasonT], reason: str | None, doing: str) -> ReasonT:
    """The reason code of an action that takes one of `vocabulary` (ReasonRequired otherwise)."""
    if reason not in set(vocabulary):
        raise ReasonRequired(f"{doing} needs a reason: one of {', '.join(vocabulary)}")
    return vocabulary(reason)


def _screen_out_reason(reason: str | None) -> ScreenOutReason:
    return _reason_in(ScreenOutReason, reason, "screening out")


def _with(state: CaseState, case: CaseFile, *events: EventPayload) -> Decision:
    return Decision(derive(dataclasses.replace(state, case=case)), events)


def _screened_out(
    state: CaseState,
    case: CaseFile,
    reason: ScreenOutReason,
    *,
    by: str,
    approved_by: str | None,
    now: datetime,
) -> Decision:
    still_open = open_referrals(state)
    if still_open:
        raise OpenReferrals(still_open)
    review = CaseReviewed(
        case_id=case.case_id,
        decision="screened_out",
        reason=reason,
        risk_level=RiskLevel(case.risk_level),
        reviewed_by=by,
        approved_by=approved_by,
        reviewed_at=now,
        stage=Stage.closed,
    )
    case, closure = closing(dataclasses.replace(case, reviewed_at=now), ClosureReason.screened_out, now)
    return _with(state, case, review, closure)


def reviewed(
    state: CaseState,
    decision: ReviewDecision,
    reason: str | None,
    *,
    by: str,
    supervisor: bool,
    now: datetime,
) -> Decision:
    """The written review (书面审核), by the case's owner or a supervisor of its territory. Screened
    in, the case goes on to needs assessment; screened out, it closes — but an orange or red case
    only with a supervisor's approval (a caseworker asks for it: `requested`)."""
    case = state.case
    require_reviewable(case)
    require_reviewer(case, by=by, supervisor=supervisor)
    if decision == "screened_out":
        why = _screen_out_reason(reason)
        if case.risk_level != RiskLevel.blue.value and not supervisor:
            raise Refused(
                f"screening out a {case.risk_level} case needs a supervisor's approval: ask for it "
                "(POST /v1/cases/{case_id}/approvals, kind screen_out)"
            )
        approver = by if case.risk_level != RiskLevel.blue.value else None
        return _screened_out(state, case, why, by=by, approved_by=approver, now=now)
    if reason is not None:  # a screen-out reason sent with a screening-in is a mistake, not a note
        raise ReasonRequired("screening in takes no reason: a reason is given to screen out")
    stage = advance_stage(case.stage, Stage.needs_assessment)
    review = CaseReviewed(
        case_id=case.case_id,
        decision="screened_in",
        risk_level=RiskLevel(case.risk_level),
        reviewed_by=by,
        reviewed_at=now,
        stage=stage,
    )
    case = dataclasses.replace(
        case, reviewed_at=now, stage=stage.value, last_activity_at=max(case.last_activity_at, now)
    )
    return _with(state, case, review)


def _owner_or_supervisor(case: CaseFile, *, by: str, supervisor: bool, does: str) -> None:
    if not supervisor and case.owner_ref != by:
        raise NotYours(f"only the case's owner or a supervisor of its territory {does}")


def require_reviewer(case: CaseFile, *, by: str, supervisor: bool) -> None:
    """Who records a case's review: its owner or a supervisor of its territory (NotYours otherwise)."""
    _owner_or_supervisor(case, by=by, supervisor=supervisor, does="records its review")


def require_asker(case: CaseFile, kind: str, *, by: str, supervisor: bool) -> None:
    """Who asks for a request: the case's owner; a transfer, its owner or a supervisor of its
    territory (NotYours otherwise)."""
    if kind == "transfer":
        if case.owner_ref != by and not supervisor:
            raise NotYours("only the case's owner or a supervisor of its territory asks to transfer it")
    elif case.owner_ref != by:
        raise NotYours("only the case's owner asks for approval (a supervisor decides directly)")


def _transferable(case: CaseFile, reason: str, to_jurisdiction: str | None) -> None:
    require_open(case)
    if reason not in set(TransferReason):
        raise ReasonRequired(f"a transfer needs a reason: one of {', '.join(TransferReason)}")
    if to_jurisdiction is None or to_jurisdiction == case.jurisdiction:
        raise Refused("a transfer moves the case to another territory than its own")


def require_alone(kind: str, pending: Iterable[Approval]) -> None:
    """One pending request of a kind; and a pending transfer waits alone (the receiving territory
    would inherit any other)."""
    for other in (a for a in pending if a.state == "pending"):
        if other.kind == kind:
            raise Refused(f"a request to {kind.replace('_', ' ')} this case is pending already")
        if "transfer" in (kind, other.kind):
            raise Refused(
                f"a request to {other.kind.replace('_', ' ')} this case is pending: a transfer waits alone"
            )


def requested(
    state: CaseState,
    kind: ApprovalKind,
    reason: str,
    *,
    by: str,
    pending: Iterable[Approval],
    policy: CaseworkPolicy,
    now: datetime,
    supervisor: bool = False,
    to_jurisdiction: str | None = None,
    into: CaseFile | None = None,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
) -> tuple[Approval, Decision]:
    """The case's owner asks a supervisor to approve screening it out, closing it or reopening a red
    one (`into`: the case a link merged it into, if any), with the reason; or its owner or a supervisor
    of its territory asks the supervisors of `to_jurisdiction` to take it over. One pending request of
    a kind at a time, and a transfer alone."""
    case = state.case
    require_asker(case, kind, by=by, supervisor=supervisor)
    if kind == "transfer":
        _transferable(case, reason, to_jurisdiction)
    elif kind == "reopen":
        _reopen_reason(reason)
        require_reopen_request(case, into)
    elif kind == "screen_out":
        require_reviewable(case)
        _screen_out_reason(reason)
        still_open = open_referrals(state)
        if still_open:
            raise OpenReferrals(still_open)
    else:
        require_open(case)
        if reason not in {r.value for r in CLOSING_REASONS}:
            raise ReasonRequired(f"closing needs a reason: one of {', '.join(sorted(CLOSING_REASONS))}")
        closable(state, ClosureReason(reason), policy, now)
    require_alone(kind, pending)
    to_jurisdiction = to_jurisdiction if kind == "transfer" else None
    approval = Approval(
        approval_id=new_id(),
        case_id=case.case_id,
        kind=kind,
        reason=reason,
        jurisdiction=case.jurisdiction,
        to_jurisdiction=to_jurisdiction,
        requested_by=by,
        requested_at=now,
    )
    event = CaseApprovalRequested(
        approval_id=approval.approval_id,
        case_id=case.case_id,
        kind=kind,
        reason=reason,
        jurisdiction=case.jurisdiction,
        to_jurisdiction=to_jurisdiction,
        requested_by=by,
        requested_at=now,
    )
    case = dataclasses.replace(
        case, pending_approvals=case.pending_approvals + 1, last_activity_at=max(case.last_activity_at, now)
    )
    return approval, _with(state, case, event)


def transferred(state: CaseState, case: CaseFile, approval: Approval, *, by: str, now: datetime) -> Decision:
    """The receiving territory's supervisor accepted: the case is the new territory's, owned by its
    township station until a supervisor there names a caseworker (the old one no longer owns it)."""
    to = approval.to_jurisdiction
    station = station_of(to)
    previous = case.owner_ref
    moved = CaseTransferred(
        case_id=case.case_id,
        approval_id=approval.approval_id,
        from_jurisdiction=case.jurisdiction,
        jurisdiction=to,
        reason=TransferReason(approval.reason),
        requested_by=approval.requested_by,
        accepted_by=by,
        transferred_at=now,
    )
    owner = CaseAssigned(
        case_id=case.case_id,
        jurisdiction=to,
        owner_node=station,
        owner_ref=None,
        previous_owner_ref=previous,
        reason="transferred" if previous else None,
        assigned_at=now,
    )
    case = dataclasses.replace(
        case,
        jurisdiction=to,
        owner_node=station,
        owner_ref=None,
        assigned_at=now,
        blind_spot_escalated_at=None,
    )
    return _with(state, case, moved, owner)


# ---- a person reopens a closed case -------------------------------------------------------------


def was_red(case: CaseFile) -> bool:
    """Red now or when it closed: its reopening needs a supervisor's approval."""
    return RiskLevel.red.value in (case.risk_level, case.closed_risk_level)


def _reopen_reason(reason: str | None) -> ReopenReason:
    return _reason_in(ReopenReason, reason, "reopening")


def require_reopenable(case: CaseFile, into: CaseFile | None = None) -> None:
    """What a person's reopening needs of the case: closed, and not merged into another case by a link
    (`into`: the case the link merged it into, as casework knows it). Closed as that duplicate, the
    link's undo reopens it (MergedByLink); merged while closed, its child's reports are in `into`, which
    is worked on (ChildHasOpenCase, when open) or reopened instead (MergedByLink)."""
    if case.state != CaseStatus.closed:
        raise Refused("the case is open")
    named = f" ({into.case_number or into.case_id})" if into is not None else ""
    if case.closed_reason == ClosureReason.duplicate.value:
        raise MergedByLink(
            f"the case closed as the duplicate of the case a link merged it into{named}: a "
            "supervisor undoes the link to reopen it (POST /v1/children/links/{link_id}/undo)",
            into,
        )
    if into is not None and into.state == CaseStatus.open:
        raise ChildHasOpenCase(into)
    if case.merged_into is not None:
        raise MergedByLink(
            f"a link merged the case into another{named}, which holds its child's reports: reopen that one",
            into,
        )


def require_reopener(case: CaseFile, *, by: str, supervisor: bool) -> None:
    """Who reopens a case: its owner or a supervisor of its territory (NotYours otherwise)."""
    _owner_or_supervisor(case, by=by, supervisor=supervisor, does="reopens it")


def require_direct_reopening(case: CaseFile, pending: Iterable[Approval], *, supervisor: bool) -> None:
    """Reopened at once: an orange or blue case by its owner, any case by a supervisor (a red one on the
    supervisor's own approval) — none while a request to reopen it waits for a supervisor's decision."""
    if was_red(case) and not supervisor:
        raise Refused(
            "reopening a red case needs a supervisor's approval: ask for it "
            "(POST /v1/cases/{case_id}/approvals, kind reopen)"
        )
    if any(a.state == "pending" and a.kind == "reopen" for a in pending):
        raise Refused(
            "a request to reopen this case is pending: a supervisor decides it "
            "(POST /v1/approvals/{approval_id}/decision)"
        )


def require_reopen_request(case: CaseFile, into: CaseFile | None = None) -> None:
    """A request to reopen is for a red case (or one red when it closed); any other is reopened at once."""
    require_reopenable(case, into)
    if not was_red(case):
        raise Refused(
            f"an {case.risk_level or 'ungraded'} case is reopened by its owner directly "
            "(POST /v1/cases/{case_id}/reopening)"
        )


def reopening(
    state: CaseState,
    reason: str | None,
    *,
    by: str,
    supervisor: bool,
    pending: Iterable[Approval],
    policy: CaseworkPolicy,
    now: datetime,
    into: CaseFile | None = None,
) -> Decision:
    """A person reopens a closed case, with the reason: its owner an orange or blue one, a supervisor of
    its territory any (a red one on their own approval: theirs to give). A caseworker asks for a red
    one (`requested`, kind reopen). See `_reopened` for what the case becomes."""
    case = state.case
    why = _reopen_reason(reason)
    require_reopenable(case, into)
    require_reopener(case, by=by, supervisor=supervisor)
    require_direct_reopening(case, pending, supervisor=supervisor)
    return _reopened(
        state,
        case,
        why,
        by=by,
        approved_by=by if was_red(case) else None,
        approval_id=None,
        policy=policy,
        now=now,
    )


def _reopened(
    state: CaseState,
    case: CaseFile,
    reason: ReopenReason,
    *,
    by: str,
    approved_by: str | None,
    approval_id: uuid.UUID | None,
    policy: CaseworkPolicy,
    now: datetime,
) -> Decision:
    """The case open again at the stage it had reached when it closed (screening if not known), with its
    owner, and looked at anew: its written review is due within its grade's hours (red's, if it was
    never graded) from now, and a closure rule met before now closes nothing. `case.reopened` says so;
    intake follows it (one open case per child)."""
    closed_at = case.closed_at or now
    at = max(now, closed_at)
    stage = Stage(case.closed_from_stage) if case.closed_from_stage else Stage.screening
    level = RiskLevel.red if was_red(case) else (RiskLevel(case.risk_level) if case.risk_level else None)
    review_due = at + policy.review_within(RiskLevel(case.risk_level or RiskLevel.red), case.jurisdiction)
    event = CaseReopened(
        case_id=case.case_id,
        reason=reason,
        reopened_by=by,
        approved_by=approved_by,
        approval_id=approval_id,
        risk_level=level,
        stage=stage,
        closed_at=closed_at,
        reopened_at=at,
    )
    case = dataclasses.replace(
        case,
        state=CaseStatus.open.value,
        stage=stage.value,
        closed_at=None,
        closed_reason=None,
        closed_from_stage=None,
        closed_risk_level=None,
        reopened_at=at,
        reviewed_at=None,
        review_due_at=review_due,
        review_escalated_for=None,
        last_activity_at=max(case.last_activity_at, at),
    )
    return _with(state, case, event)


def approval_decided(
    state: CaseState,
    approval: Approval,
    approved: bool,
    reason: str | None,
    *,
    by: str,
    policy: CaseworkPolicy,
    now: datetime,
    into: CaseFile | None = None,
) -> tuple[Approval, Decision]:
    """A supervisor approves (the case is screened out, closed with the request's reason, moved to
    the territory it was to go to, or reopened) or rejects with a reason."""
    case = state.case
    if approval.state != "pending":
        raise Refused(f"the request was {approval.state} already")
    if not approved and reason is None:
        raise ReasonRequired("rejecting a request needs a reason")
    if approved and approval.kind == "reopen":
        require_reopenable(case, into)  # as reopenable now as when it was asked
    elif approved:
        require_open(case)
    if approved and approval.kind == "close":
        closable(state, ClosureReason(approval.reason), policy, now)  # as safe now as when it was asked
    approval = dataclasses.replace(
        approval,
        state="approved" if approved else "rejected",
        decided_by=by,
        decided_at=now,
        decision_reason=None if approved else reason,
    )
    decided = CaseApprovalDecided(
        approval_id=approval.approval_id,
        case_id=case.case_id,
        kind=approval.kind,
        approved=approved,
        reason=approval.decision_reason,
        decided_by=by,
        decided_at=now,
    )
    case = dataclasses.replace(
        case,
        pending_approvals=max(case.pending_approvals - 1, 0),
        last_activity_at=max(case.last_activity_at, now),
    )
    if not approved:
        return approval, _with(state, case, decided)
    if approval.kind == "screen_out":
        require_reviewable(case)
        outcome = _screened_out(
            state, case, ScreenOutReason(approval.reason), by=approval.requested_by, approved_by=by, now=now
        )
    elif approval.kind == "transfer":
        outcome = transferred(state, case, approval, by=by, now=now)
    elif approval.kind == "reopen":
        outcome = _reopened(
            state,
            case,
            ReopenReason(approval.reason),
            by=approval.requested_by,
            approved_by=by,
            approval_id=approval.approval_id,
            policy=policy,
            now=now,
        )
    else:
        closed, closure = closing(case, ClosureReason(approval.reason), now)
        outcome = _with(state, closed, closure)
    return approval, Decision(outcome.state, (decided, *outcome.events))


def referrals_by_case(facts: Iterable[ReferralFact]) -> dict[uuid.UUID, dict[uuid.UUID, ReferralFact]]:
    grouped: dict[uuid.UUID, dict[uuid.UUID, ReferralFact]] = {}
    for fact in facts:
        grouped.setdefault(fact.case_id, {})[fact.referral_id] = fact
    return grouped
