"""Every rule of every stage's handler table, run by the one unit of work (shared/unit_of_work.py)
without a database: a case's life in steps, each step a batch through a table on an in-memory store
and outbox, checked against the same events decided by hand with the same ids on the state the
step began with. A rule added to a table without a step here fails the coverage test."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from services.assessment import handlers as assessment
from services.assessment.assess import Resources as AssessmentResources
from services.casework import decide as casework_decide
from services.casework import handlers as casework
from services.casework.cases import Resources as CaseworkResources
from services.followup import handlers as followup
from services.followup.visits import Resources as FollowupResources
from services.referral import handlers as referral
from services.referral.decide import CaseReferrals
from services.referral.refer import Resources as ReferralResources
from shared.contracts.envelope import new_envelope
from shared.contracts.events import (
    CaseReopened,
    ConsentWithdrawn,
    EventPayload,
    FollowupScheduled,
    ReferralEscalated,
    ServiceEscalated,
)
from shared.contracts.vocabulary import (
    Agency,
    Category,
    Need,
    ReferralState,
    ReopenReason,
    RiskLevel,
    ServiceState,
    Stage,
    TerritoryLevel,
)
from shared.messaging.consumer import Delivery
from shared.unit_of_work import Handlers, InMemoryOutbox, InMemoryStore
from shared.unit_of_work import Stage as UnitOfWorkStage
from tests.unit import test_assessment_decide as a
from tests.unit import test_casework_decide as c
from tests.unit import test_followup_decide as f
from tests.unit import test_referral_decide as r

NOW = c.NOW


@dataclass
class Ids:
    """Ids as the service mints them: 1, 2, 3… from `next`."""

    next: int = 1

    def __call__(self) -> uuid.UUID:
        self.next += 1
        return uuid.UUID(int=self.next - 1)


@dataclass
class Life:
    """One case's life at one service: its store, its resources and the ids they mint."""

    store: InMemoryStore
    resources: Any
    ids: Ids = field(default_factory=Ids)
    seen: set[type] = field(default_factory=set)

    async def step(
        self, table: Handlers, payloads: list[EventPayload], case_id: uuid.UUID
    ) -> list[EventPayload]:
        """One batch through the unit of work; returns the payloads it staged."""
        before, seed, kept = dict(self.store.states), self.ids.next, len(self.store.records)
        items = [
            (
                new_envelope(p, case_id=case_id, producer="test", occurred_at=NOW),
                Delivery(p.TOPIC, 0, offset, None, {}),
            )
            for offset, p in enumerate(payloads)
        ]
        outbox = InMemoryOutbox()
        stage = UnitOfWorkStage(
            producer="test",
            handlers=table,
            store=self.store,
            outbox=outbox,
            resources=lambda: self.resources,
            clock=lambda _: NOW,
        )
        await stage(None, items)
        # The same events decided by hand, in order, from the state the batch began with.
        by_hand = dataclasses.replace(self.resources, new_id=Ids(seed))
        state = before.get(case_id) or (self.store.new(case_id) if self.store.new else None)
        emitted, records = [], []
        for envelope, _ in items:
            decision = table.decide(state, envelope, by_hand, NOW)
            state = decision.state if decision.state is not None else state
            emitted += decision.events
            records += decision.records
        assert self.store.states.get(case_id) == state
        assert outbox.payloads() == emitted
        assert self.store.records[kept:] == records
        events = {envelope.event_id for envelope, _ in items}
        assert all(e.case_id == case_id and e.causation_id in events for e in outbox.envelopes)
        self.seen.update(type(p) for p in payloads)
        return outbox.payloads()


COVERED: dict[str, set[type]] = {}


async def _casework() -> set[type]:
    life = Life(
        InMemoryStore(new=lambda _: casework_decide.CaseState(None)),
        CaseworkResources(policy=c.POLICY, territory=None, clock=lambda: NOW),
    )
    escalated = ReferralEscalated(
        referral_id=c.REFERRAL,
        case_id=c.CASE,
        agency=Agency.police,
        from_jurisdiction="140402001001",
        to_jurisdiction="140402000000",
        to_level=TerritoryLevel.county,
        ack_due_at=NOW + timedelta(hours=24),
        escalated_at=NOW,
    )
    scheduled = FollowupScheduled(
        case_id=c.CASE,
        plan_id=uuid.uuid4(),
        risk_level=RiskLevel.red,
        cadence_days=7,
        next_visit_due_at=NOW + timedelta(days=1),
    )
    linked = c.link()
    await life.step(
        casework.HANDLERS, [c.report(), c.grade(), c.referral(), escalated, c.acknowledged()], c.CASE
    )
    service = c.service_changed(ServiceState.planned, at=NOW)
    service_escalated = ServiceEscalated(
        service_id=service.service_id,
        case_id=c.CASE,
        kind=service.kind,
        provider_id=service.provider_id,
        due_on=service.due_on,
        from_jurisdiction="140402001001",
        to_jurisdiction="140402001000",
        to_level=TerritoryLevel.township,
        escalated_at=NOW,
    )
    delivered = c.service_changed(ServiceState.delivered, at=NOW + timedelta(minutes=1), of=service)
    await life.step(casework.HANDLERS, [service, service_escalated, delivered], c.CASE)
    consent_withdrawn = ConsentWithdrawn(
        consent_id=uuid.uuid4(),
        case_id=c.CASE,
        agency=Agency.education,
        jurisdiction="140402001001",
        withdrawn_on=NOW.date(),
        withdrawn_at=NOW,
    )
    await life.step(
        casework.HANDLERS,
        [scheduled, c.visit(NOW), c.withdrawal(), consent_withdrawn, c.rule_met(NOW)],
        c.CASE,
    )
    await life.step(casework.HANDLERS, [linked, c.unlink(linked)], c.CASE)
    return life.seen


async def _referral() -> set[type]:
    life = Life(
        InMemoryStore(new=CaseReferrals),
        ReferralResources(routes=r.ROUTES, public_url=r.POLICY.public_url, clock=lambda: NOW),
    )
    life.resources = dataclasses.replace(life.resources, new_id=life.ids)
    case_id = uuid.uuid4()
    grade = r.graded(case_id, RiskLevel.red, emergency=True, categories=(Category.abuse,))
    created = await life.step(referral.GRADES, [grade], case_id)
    assert created, "a red emergency is referred"
    police = r.referral_to(life.store.states[case_id], Agency.police)
    await life.step(
        referral.ANSWERS, [r.response(police, "acknowledge"), r.response(police, "start")], case_id
    )
    reopened = CaseReopened(
        case_id=case_id,
        reason=ReopenReason.new_risk,
        reopened_by="cw-1",
        approved_by="sup-1",
        risk_level=RiskLevel.red,
        stage=Stage.services,
        closed_at=NOW,
        reopened_at=NOW + timedelta(minutes=1),
    )
    linked = c.link(surviving=uuid.uuid4()).model_copy(update={"case_id": case_id})
    await life.step(referral.CLOSURES, [r.closed(case_id), reopened], case_id)
    await life.step(
        referral.CLOSURES, [linked, r.undone_link(case_id, surviving_case_id=uuid.uuid4())], case_id
    )
    return life.seen


async def _followup() -> set[type]:
    life = Life(InMemoryStore(), FollowupResources(policy=f.POLICY, clock=lambda: NOW))
    life.resources = dataclasses.replace(life.resources, new_id=life.ids)
    case_id = uuid.uuid4()
    await life.step(
        followup.GRADES, [f.graded(case_id, RiskLevel.orange), f.graded(case_id, RiskLevel.red)], case_id
    )
    referral_id = uuid.uuid4()
    await life.step(
        followup.REFERRALS,
        [
            f.status(case_id, referral_id, ReferralState.acknowledged),
            f.status(case_id, referral_id, ReferralState.done),
        ],
        case_id,
    )
    assert life.store.records, "the referrals' latest states are kept"
    await life.step(
        followup.CLOSURES,
        [r.closed(case_id), f.reopening(case_id, NOW + timedelta(minutes=1))],
        case_id,
    )
    return life.seen


async def _assessment() -> set[type]:
    life = Life(InMemoryStore(), AssessmentResources(rules=a.RULES, clock=lambda: NOW))
    life.resources = dataclasses.replace(life.resources, new_id=life.ids)
    case_id = uuid.uuid4()
    await life.step(assessment.REPORTS, [a.report(case_id), a.report(case_id, earlier=1)], case_id)
    await life.step(assessment.REASSESSMENTS, [a.reassessment(case_id, needs=(Need.legal,))], case_id)
    return life.seen


LIVES: dict[str, tuple[Callable, tuple[Handlers, ...]]] = {
    "casework": (_casework, (casework.HANDLERS,)),
    "referral": (_referral, (referral.GRADES, referral.ANSWERS, referral.CLOSURES)),
    "followup": (_followup, (followup.GRADES, followup.REFERRALS, followup.CLOSURES)),
    "assessment": (_assessment, (assessment.REPORTS, assessment.REASSESSMENTS)),
}


@pytest.mark.parametrize("service", sorted(LIVES))
async def test_every_rule_of_the_services_tables_runs_through_the_unit_of_work(service: str) -> None:
    life, tables = LIVES[service]
    seen = await life()
    ruled = {payload_type for table in tables for payload_type in table.rules}
    assert ruled - seen == set(), (
        f"rules of {service} with no step here: {sorted(t.__name__ for t in ruled - seen)}"
    )
