"""The services of a case's assistance plan (提供救助服务), pure: a caseworker plans a service for a
provider, the provider accepts it, delivers it a unit at a time (six counselling sessions, each with
its date) and says how it ended; the case's side may withdraw it; one left open past its due date
moves up the territory like a referral nobody acknowledged. Each change is one `service.changed`.

No I/O here: the shell (services/referral/deliveries.py) loads the service, its case and provider,
threads the action through these functions and saves once.
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from services.referral.lifecycle import IllegalTransition
from services.referral.territory import escalation_target
from shared.case_number import CHINA_STANDARD_TIME
from shared.contracts.events import ServiceChanged, ServiceEscalated
from shared.contracts.vocabulary import (
    OPEN_SERVICE_STATES,
    SERVICE_KIND_NEED,
    SERVICES_WITH_STEPS,
    JudgementResult,
    LawsuitStep,
    ProviderKind,
    ServiceKind,
    ServiceOutcome,
    ServiceState,
    Stage,
)
from shared.db.rows import TableRow

ServiceAction = Literal["accept", "start", "deliver", "not_deliver"]

# Due dates are the calendar's of the people who keep them: a service due on the 5th is late from the
# 6th, China Standard Time.
LOCAL = CHINA_STANDARD_TIME

TARGET: dict[str, ServiceState] = {
    "accept": ServiceState.accepted,
    "start": ServiceState.in_progress,
    "deliver": ServiceState.delivered,
    "not_deliver": ServiceState.not_delivered,
}
# Starting implies accepting; a one-off allowance may be delivered as soon as it is planned.
ALLOWED_FROM: dict[str, frozenset[ServiceState]] = {
    "accept": frozenset({ServiceState.planned}),
    "start": frozenset({ServiceState.planned, ServiceState.accepted}),
    "deliver": OPEN_SERVICE_STATES,
    "not_deliver": OPEN_SERVICE_STATES,
}


class ServiceRefused(ValueError):
    """A service that cannot be planned as asked (the provider does not give it, does not serve the
    case's territory, or the case's plan does not name its need); the message says which."""


@dataclass(frozen=True)
class Provider(TableRow):
    """One row of `referral.providers`: an agency's office or a contracted organisation."""

    SEQUENCES = ("kinds",)

    id: uuid.UUID
    name: str
    kind: str
    territory: str  # the node it serves, as a prefix (14, 1404, 140402…): every case below it
    kinds: tuple[str, ...]  # the service kinds it gives
    created_at: datetime
    agency: str | None = None  # an agency office's agency: its officers record the services
    contact: str | None = None
    active: bool = True

    def refusal(self, kind: ServiceKind, jurisdiction: str) -> str | None:
        if not self.active:
            return "the provider no longer takes services"
        if kind.value not in self.kinds:
            return f"the provider does not give {kind.value}"
        if not jurisdiction.startswith(self.territory):
            return "the provider does not serve the case's territory"
        return None


@dataclass(frozen=True)
class Service(TableRow):
    """One row of `referral.services`."""

    id: uuid.UUID
    case_id: uuid.UUID
    kind: str
    need: str
    provider_id: uuid.UUID
    provider_kind: str
    state: str
    jurisdiction: str  # the case's territory
    holder: str  # the node answerable now: the case's, then each level up once overdue
    risk_level: str
    due_on: date
    escalate_at: datetime  # when it next moves up if still open: the end of its due date, then later
    created_at: datetime
    created_by: str
    units_planned: int | None = None
    units_delivered: int = 0
    outcome: str | None = None
    reason: str | None = None
    escalations: int = 0
    ended_at: datetime | None = None
    case_number: str | None = None
    updated_at: datetime | None = dataclasses.field(default=None, compare=False)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_SERVICE_STATES

    def overdue(self, now: datetime) -> bool:
        return self.is_open and end_of(self.due_on) <= now


def end_of(day: date) -> datetime:
    """The moment a service due on `day` becomes late: the next midnight where it is kept."""
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=LOCAL)


def _changed(service: Service, now: datetime, by: str | None, **step) -> ServiceChanged:
    return ServiceChanged(
        **step,
        service_id=service.id,
        case_id=service.case_id,
        kind=ServiceKind(service.kind),
        provider_id=service.provider_id,
        provider_kind=ProviderKind(service.provider_kind),
        state=ServiceState(service.state),
        outcome=ServiceOutcome(service.outcome) if service.outcome else None,
        reason=service.reason,
        units_delivered=service.units_delivered,
        units_planned=service.units_planned,
        due_on=service.due_on,
        jurisdiction=service.jurisdiction,
        changed_at=now,
        changed_by=by,
        stage=Stage.services,
    )


@dataclass(frozen=True)
class Planned:
    """What a caseworker asks for: one service of a plan item's need."""

    kind: ServiceKind
    due_on: date
    units_planned: int | None = None


def plan(
    *,
    case_id: uuid.UUID,
    case_needs: tuple[str, ...] | list[str],
    jurisdiction: str,
    risk_level: str,
    case_number: str | None,
    asked: Planned,
    provider: Provider,
    by: str,
    now: datetime,
    new_id: uuid.UUID,
) -> tuple[Service, ServiceChanged]:
    """A new service of the case's plan for `provider`, planned and due on `asked.due_on`. Raises
    ServiceRefused when the plan names no such need or the provider cannot give it there."""
    need = SERVICE_KIND_NEED[asked.kind]
    if need.value not in case_needs:
        raise ServiceRefused(f"the case's plan names no {need.value} need")
    refusal = provider.refusal(asked.kind, jurisdiction)
    if refusal:
        raise ServiceRefused(refusal)
    if asked.due_on < now.astimezone(LOCAL).date():
        raise ServiceRefused("the due date has passed")
    service = Service(
        id=new_id,
        case_id=case_id,
        kind=asked.kind.value,
        need=need.value,
        provider_id=provider.id,
        provider_kind=provider.kind,
        state=ServiceState.planned.value,
        jurisdiction=jurisdiction,
        holder=jurisdiction,
        risk_level=risk_level,
        due_on=asked.due_on,
        escalate_at=end_of(asked.due_on),
        created_at=now,
        created_by=by,
        units_planned=asked.units_planned,
        case_number=case_number,
        updated_at=now,
    )
    return service, _changed(service, now, by)


def act(
    service: Service,
    action: ServiceAction,
    *,
    outcome: ServiceOutcome | None,
    reason: str | None,
    by: str,
    now: datetime,
) -> tuple[Service, ServiceChanged | None]:
    """The provider's answer: accepted, started, delivered (with an outcome) or not delivered (with a
    reason). Repeating the state it is in changes nothing (None); raises IllegalTransition otherwise."""
    current = ServiceState(service.state)
    target = TARGET[action]
    if current == target:
        return service, None
    if current not in ALLOWED_FROM[action]:
        raise IllegalTransition(f"cannot {action} a service that is {current}")
    if (action == "deliver") != (outcome is not None):
        raise ValueError("outcome is required when the service is delivered, and only then")
    if action == "not_deliver" and reason is None:
        raise ValueError("reason is required when the service is not delivered")
    ended = target not in OPEN_SERVICE_STATES
    changed = dataclasses.replace(
        service,
        state=target.value,
        outcome=outcome.value if outcome else None,
        reason=reason,
        ended_at=now if ended else None,
        updated_at=now,
    )
    return changed, _changed(changed, now, by)


def unit_delivered(service: Service, *, by: str, now: datetime) -> tuple[Service, ServiceChanged]:
    """One unit of the service given (a session, a month's allowance): counted, and the service is in
    progress. Raises IllegalTransition once it has ended."""
    if not service.is_open:
        raise IllegalTransition(f"cannot record a unit of a service that is {service.state}")
    changed = dataclasses.replace(
        service,
        state=ServiceState.in_progress.value,
        units_delivered=service.units_delivered + 1,
        updated_at=now,
    )
    return changed, _changed(changed, now, by)


@dataclass(frozen=True)
class Step(TableRow):
    """One row of `referral.service_steps`: a lawsuit's step, with its day."""

    service_id: uuid.UUID
    step: str
    on: date
    recorded_by: str
    recorded_at: datetime
    result: str | None = None


def step_taken(
    service: Service,
    steps: list[Step] | tuple[Step, ...],
    step: LawsuitStep,
    *,
    on: date,
    result: JudgementResult | None,
    by: str,
    now: datetime,
) -> tuple[Service, Step, ServiceChanged]:
    """The next step of a lawsuit, on its day: the steps come in the court's order, each on or after
    the one before, the judgement with what the court decided; the service is in progress from its
    application. Raises IllegalTransition (out of order, or a service without steps or ended) or
    ValueError (a day before the last step's, a result missing or where none belongs)."""
    if service.kind not in SERVICES_WITH_STEPS:
        raise IllegalTransition(f"a {service.kind} service has no steps")
    if not service.is_open:
        raise IllegalTransition(f"cannot record a step of a service that is {service.state}")
    order = list(LawsuitStep)
    taken = sorted(steps, key=lambda s: order.index(LawsuitStep(s.step)))
    expected = order[len(taken)] if len(taken) < len(order) else None
    if step != expected:
        raise IllegalTransition(f"the next step is {expected}" if expected else "every step is recorded")
    if taken and on < taken[-1].on:
        raise ValueError(f"a step cannot come before the {taken[-1].step} of {taken[-1].on}")
    if (step == LawsuitStep.judgement) != (result is not None):
        raise ValueError("result is required with the judgement, and only then")
    row = Step(service.id, step.value, on, by, now, result.value if result else None)
    changed = dataclasses.replace(service, state=ServiceState.in_progress.value, updated_at=now)
    return changed, row, _changed(changed, now, by, step=step, step_on=on, result=result)


def withdraw(
    service: Service, reason: str, *, by: str, now: datetime
) -> tuple[Service, ServiceChanged | None]:
    """The case's side ends a service the provider has not finished, with a reason; withdrawing it
    again changes nothing. Raises IllegalTransition for one that has ended otherwise."""
    if service.state == ServiceState.withdrawn:
        return service, None
    if not service.is_open:
        raise IllegalTransition(f"cannot withdraw a service that is {service.state}")
    changed = dataclasses.replace(
        service, state=ServiceState.withdrawn.value, reason=reason, ended_at=now, updated_at=now
    )
    return changed, _changed(changed, now, by)


def escalate(service: Service, now: datetime, grace: timedelta) -> tuple[Service, ServiceEscalated] | None:
    """A service still open past its due date moves one level up the territory tree, whose
    supervisors then answer for it; if still open `grace` later, one more. None at the city."""
    target = escalation_target(service.holder)
    if target is None or not service.is_open:
        return None
    to_jurisdiction, to_level = target
    escalated = dataclasses.replace(
        service,
        holder=to_jurisdiction,
        escalate_at=now + grace,
        escalations=service.escalations + 1,
        updated_at=now,
    )
    event = ServiceEscalated(
        service_id=service.id,
        case_id=service.case_id,
        kind=ServiceKind(service.kind),
        provider_id=service.provider_id,
        due_on=service.due_on,
        from_jurisdiction=service.holder,
        to_jurisdiction=to_jurisdiction,
        to_level=to_level,
        escalated_at=now,
    )
    return escalated, event
