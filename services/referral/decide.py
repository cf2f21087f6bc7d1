"""Referral's decisions, pure: what a grade, an agency's answer or a missed deadline does to a
case's referrals — the new state and the events it causes.

No I/O here: the shell (refer.py) loads the cases and referrals of a whole batch, threads each
event through these functions in offset order, and saves once.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.referral import provision
from services.referral.lifecycle import next_state, withdrawn_from
from services.referral.provision import Service
from services.referral.routing import GradedCase, RoutingTable, ack_due_at, destinations
from services.referral.territory import escalation_target
from shared.contracts.envelope import EventPayload
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
)
from shared.contracts.vocabulary import (
    OPEN_REFERRAL_STATES,
    Agency,
    Category,
    ClosureReason,
    Need,
    ReferralState,
    RiskLevel,
    Stage,
    WithdrawalReason,
    advance_stage,
)
from shared.db.rows import TableRow


class ForeignAnswer(ValueError):
    """An agency answered a referral addressed to another agency."""


@dataclass(frozen=True)
class CaseRecord(TableRow):
    """One row of `referral.cases`: what referral knows of a graded case."""

    case_id: uuid.UUID
    jurisdiction: str
    risk_level: str
    emergency: bool
    categories: list[str]
    needs: list[str]
    stage: str
    updated_at: datetime | None = dataclasses.field(default=None, compare=False)
    case_number: str | None = None  # intake's, from case.assessed
    child_ref: uuid.UUID | None = None  # from case.assessed: the child a read of the answers' notes names
    assessed_version: int | None = None  # case.assessed's version of the grade in force (contracts 1.10)


@dataclass(frozen=True)
class Referral(TableRow):
    """One row of `referral.referrals`."""

    id: uuid.UUID
    case_id: uuid.UUID
    agency: str
    state: str
    risk_level: str
    jurisdiction: str  # the case's territory
    holder: str  # the node answerable now
    created_at: datetime
    ack_due_at: datetime
    escalations: int = 0
    outcome: str | None = None
    reason: str | None = None
    acknowledged_at: datetime | None = None
    responder_ref: str | None = None
    updated_at: datetime | None = dataclasses.field(default=None, compare=False)
    case_number: str | None = None  # the case's, for the agency's people to say and write

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_REFERRAL_STATES


@dataclass(frozen=True)
class CaseReferrals:
    """One case as a decision sees it: its record (None before its first grade) and the
    referrals of it at hand (the open ones when routing, the answered ones otherwise)."""

    case_id: uuid.UUID
    case: CaseRecord | None = None
    referrals: tuple[Referral, ...] = ()
    services: tuple[Service, ...] = ()  # its plan's open services (loaded when the case closes)

    def referral(self, referral_id: uuid.UUID) -> Referral | None:
        return next((r for r in self.referrals if r.id == referral_id), None)

    def with_referral(self, changed: Referral) -> CaseReferrals:
        kept = tuple(r for r in self.referrals if r.id != changed.id)
        return dataclasses.replace(self, referrals=(*kept, changed))


@dataclass(frozen=True)
class Policy:
    """What decisions need besides the state: the routing table, and where agencies fetch a
    referral's details with their own credentials."""

    routes: RoutingTable
    public_url: str
    new_id: Callable[[], uuid.UUID] = uuid.uuid4  # each new referral's id


@dataclass(frozen=True)
class Decision:
    """The case after an event, and the events it causes, in the order they are published."""

    state: CaseReferrals
    events: tuple[EventPayload, ...] = ()


def route(state: CaseReferrals, graded: CaseAssessed, policy: Policy, now: datetime) -> Decision:
    """A (re-)graded case: referral's record of it follows the grade, referrals not yet
    acknowledged get the new grade's deadline, and every agency the routing table names that
    holds no open referral of the case gets one."""
    # case.assessed may be read in two lanes, the urgent one ahead of the ordinary one, so a
    # case's later grade can be applied before an earlier one: a grade not newer than the one in
    # force is stale and changes nothing (events without a version, from before contracts 1.10,
    # apply as they come).
    if (
        graded.version is not None
        and state.case is not None
        and state.case.assessed_version is not None
        and graded.version <= state.case.assessed_version
    ):
        return Decision(state)
    # The territory referral knows stays (shared/territory/transfers.py): a grade still naming
    # the old one after a transfer does not move the case back.
    jurisdiction = state.case.jurisdiction if state.case else graded.jurisdiction
    case = CaseRecord(
        case_id=graded.case_id,
        jurisdiction=jurisdiction,
        risk_level=graded.risk_level.value,
        emergency=graded.emergency,
        categories=[c.value for c in graded.categories],
        needs=[n.value for n in graded.needs],
        stage=graded.stage.value,
        updated_at=now,
        case_number=(state.case.case_number if state.case else None) or graded.case_number,
        child_ref=graded.child_ref or (state.case.child_ref if state.case else None),
        assessed_version=graded.version
        if graded.version is not None
        else (state.case.assessed_version if state.case else None),
    )
    state = dataclasses.replace(state, case=case)
    for referral in state.referrals:
        if referral.case_number is None and case.case_number is not None:  # made before cases had numbers
            state = state.with_referral(dataclasses.replace(referral, case_number=case.case_number))
    for referral in state.referrals:
        if referral.state == ReferralState.created and referral.risk_level != graded.risk_level.value:
            # Counted from when it was made: a case graded red later must be answered within
            # red's hours.
            due = ack_due_at(
                policy.routes, graded.risk_level, referral.created_at, jurisdiction=referral.jurisdiction
            )
            state = state.with_referral(
                dataclasses.replace(
                    referral, risk_level=graded.risk_level.value, ack_due_at=due, updated_at=now
                )
            )
    return _referred(state, policy, now)


def _referred(state: CaseReferrals, policy: Policy, now: datetime) -> Decision:
    """Every agency the routing table names for the case's grade that holds no open referral of it
    gets one, due by the grade's deadline."""
    case = state.case
    risk_level = RiskLevel(case.risk_level)
    categories, needs = [Category(c) for c in case.categories], [Need(n) for n in case.needs]
    holding = {r.agency for r in state.referrals if r.is_open}
    wanted = destinations(
        policy.routes, GradedCase(risk_level, case.emergency, frozenset(categories), frozenset(needs))
    )
    events: list[EventPayload] = []
    for destination in wanted:
        if destination.agency.value in holding:
            continue
        due = ack_due_at(policy.routes, risk_level, now, jurisdiction=case.jurisdiction)
        referral = Referral(
            id=policy.new_id(),
            case_id=case.case_id,
            agency=destination.agency.value,
            state=ReferralState.created.value,
            risk_level=case.risk_level,
            jurisdiction=case.jurisdiction,
            holder=case.jurisdiction,
            created_at=now,
            ack_due_at=due,
            updated_at=now,
            case_number=case.case_number,
        )
        state = state.with_referral(referral)
        events.append(
            ReferralCreated(
                referral_id=referral.id,
                case_id=case.case_id,
                agency=destination.agency,
                risk_level=risk_level,
                emergency=case.emergency,
                categories=categories,
                needs=needs,
                jurisdiction=case.jurisdiction,
                ack_due_at=due,
                details_url=f"{policy.public_url}/v1/referrals/{referral.id}",
                stage=Stage(case.stage),
                case_number=case.case_number,
            )
        )
    return Decision(state=state, events=tuple(events))


def answer(state: CaseReferrals, response: ReferralResponded, now: datetime) -> Decision:
    """An agency's answer, through the lifecycle. A repeated (or late, harmless) answer changes
    nothing and announces nothing; the first acknowledgement moves the case to `services`.
    Raises LookupError, ForeignAnswer or IllegalTransition: answers that will never be valid."""
    referral = state.referral(response.referral_id)
    if referral is None or state.case is None:
        raise LookupError(f"no referral {response.referral_id} for case {response.case_id}")
    if referral.agency != response.agency.value:
        raise ForeignAnswer(
            f"referral {response.referral_id} is addressed to {referral.agency}, not {response.agency}"
        )
    target = next_state(ReferralState(referral.state), response.action)
    if target is None:
        return Decision(state=state)
    first_acknowledgement = referral.acknowledged_at is None and target in (
        ReferralState.acknowledged,
        ReferralState.in_progress,
    )
    referral = dataclasses.replace(
        referral,
        state=target.value,
        updated_at=now,
        responder_ref=response.responder_ref,
        outcome=response.outcome,
        reason=response.reason,
        acknowledged_at=response.responded_at if first_acknowledgement else referral.acknowledged_at,
    )
    stage = Stage(state.case.stage)
    if first_acknowledgement:
        stage = advance_stage(stage, Stage.services)  # stages only go forward
    state = dataclasses.replace(
        state.with_referral(referral), case=dataclasses.replace(state.case, stage=stage.value)
    )
    event = ReferralStatusChanged(
        referral_id=referral.id,
        case_id=referral.case_id,
        agency=Agency(referral.agency),
        state=target,
        outcome=response.outcome if target == ReferralState.done else None,
        reason=response.reason if target in (ReferralState.done, ReferralState.declined) else None,
        changed_at=now,
        stage=stage,
        changed_by=response.responder_ref,
    )
    return Decision(state=state, events=(event,))


def withdraw(
    state: CaseReferrals, referral_id: uuid.UUID, reason: WithdrawalReason, *, by: str, now: datetime
) -> Decision:
    """The case's side ends an open referral with a reason: `referral.status` tells every service,
    and the agency's own topic tells the agency to stop. Withdrawing it again changes nothing.
    Raises LookupError for a referral not of this case, IllegalTransition for one already ended."""
    referral = state.referral(referral_id)
    if referral is None:
        raise LookupError(f"no referral {referral_id} for case {state.case_id}")
    if withdrawn_from(ReferralState(referral.state)) is None:
        return Decision(state=state)
    referral = dataclasses.replace(
        referral,
        state=ReferralState.withdrawn.value,
        reason=reason.value,
        outcome=None,
        responder_ref=by,
        updated_at=now,
    )
    stage = Stage(state.case.stage) if state.case else Stage.services
    changed = ReferralStatusChanged(
        referral_id=referral.id,
        case_id=referral.case_id,
        agency=Agency(referral.agency),
        state=ReferralState.withdrawn,
        reason=reason.value,
        changed_at=now,
        stage=stage,
        changed_by=by,
    )
    told = ReferralWithdrawn(
        referral_id=referral.id,
        case_id=referral.case_id,
        agency=Agency(referral.agency),
        reason=reason,
        withdrawn_by=by,
        withdrawn_at=now,
        case_number=referral.case_number,
    )
    return Decision(state=state.with_referral(referral), events=(changed, told))


CLOSER = "casework"
"""Who withdraws what a closed case still holds open: casework's rule, not a person."""


def case_closed(state: CaseReferrals, closed: CaseClosed, now: datetime) -> Decision:
    """A closed case holds no open referral: any still open is withdrawn — `duplicate` when the case
    was merged into another by a link (its child's referrals are the other case's), else
    `case_closed` (one a late grade made while the case closed: casework refuses a closure while it
    knows of one, so this is the rare race, and the invariant holds after it)."""
    reason = (
        WithdrawalReason.duplicate
        if closed.reason == ClosureReason.duplicate.value
        else WithdrawalReason.case_closed
    )
    events: list[EventPayload] = []
    for referral in [r for r in state.referrals if r.is_open]:
        decision = withdraw(state, referral.id, reason, by=CLOSER, now=now)
        state, events = decision.state, [*events, *decision.events]
    # The same for a service of its plan still owed (casework refuses a closure while it knows of one).
    services = []
    for service in state.services:
        ended, event = provision.withdraw(service, reason.value, by=CLOSER, now=now)
        services.append(ended)
        events += [event] if event is not None else []
    return Decision(state=dataclasses.replace(state, services=tuple(services)), events=tuple(events))


def link_undone(state: CaseReferrals, undone: ChildLinkUndone, policy: Policy, now: datetime) -> Decision:
    """A supervisor undid the link that merged this case into another: the case is its own child's
    again, and every agency its grade calls for that holds no open referral of it (those the merge
    withdrew) is referred again. A case never graded, or one that remained, has nothing to redo."""
    if state.case is None or undone.case_id == undone.surviving_case_id:
        return Decision(state=state)
    return _referred(state, policy, now)


def reopened(state: CaseReferrals, event: CaseReopened, policy: Policy, now: datetime) -> Decision:
    """A person reopened the closed case: it is worked again at the stage it had reached, and every
    agency its grade calls for that holds no open referral of it (those its closure withdrew) is
    referred again — a reopened red case is the police's again at once. A case never graded has
    nothing to refer."""
    if state.case is None:
        return Decision(state=state)
    state = dataclasses.replace(state, case=dataclasses.replace(state.case, stage=event.stage.value))
    return _referred(state, policy, now)


def escalate(
    referral: Referral, routes: RoutingTable, now: datetime
) -> tuple[Referral, ReferralEscalated] | None:
    """A referral unacknowledged past its deadline moves one level up the territory tree and
    gets a new deadline there; None at the city, the top of the network, where it stays overdue."""
    target = escalation_target(referral.holder)
    if target is None:
        return None
    to_jurisdiction, to_level = target
    # The new holder answers within the deadlines of the case's own territory.
    due = ack_due_at(routes, RiskLevel(referral.risk_level), now, jurisdiction=referral.jurisdiction)
    escalated = dataclasses.replace(
        referral, holder=to_jurisdiction, ack_due_at=due, escalations=referral.escalations + 1, updated_at=now
    )
    event = ReferralEscalated(
        referral_id=referral.id,
        case_id=referral.case_id,
        agency=Agency(referral.agency),
        from_jurisdiction=referral.holder,
        to_jurisdiction=to_jurisdiction,
        to_level=to_level,
        ack_due_at=due,
        escalated_at=now,
    )
    return escalated, event
