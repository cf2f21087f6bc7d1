"""Referral's handlers: route each graded case to the agencies that must act, apply agencies'
answers through the lifecycle, and escalate unacknowledged referrals up the territory tree."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.referral import tables as t
from services.referral.lifecycle import next_state
from services.referral.routing import GradedCase, RoutingTable, ack_due_at, destinations
from services.referral.territory import below_the_top, escalation_target
from shared.contracts.envelope import Envelope, new_envelope
from shared.contracts.events import CaseAssessed, ReferralCreated, ReferralEscalated, ReferralResponded, \
    ReferralStatusChanged
from shared.contracts.vocabulary import OPEN_REFERRAL_STATES, Agency, ReferralState, RiskLevel, Stage, advance_stage
from shared.db.tables import outbox_table
from shared.messaging.outbox import add_events
from shared.metrics import Gauge

PRODUCER = "referral"
OUTBOX = outbox_table(t.metadata)


@dataclass(frozen=True)
class Resources:
    routes: RoutingTable
    public_url: str  # where agencies fetch a referral's details with their own credentials
    intake_url: str = ""  # where they fetch the child's details (intake), with the same credentials
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class ForeignAnswer(ValueError):
    """An agency answered a referral addressed to another agency."""


async def on_case_assessed(session: AsyncSession, event: Envelope[CaseAssessed], res: Resources) -> None:
    graded = event.payload
    case = dict(case_id=graded.case_id, jurisdiction=graded.jurisdiction, risk_level=graded.risk_level.value,
                emergency=graded.emergency, categories=[c.value for c in graded.categories],
                needs=[n.value for n in graded.needs], stage=graded.stage.value)
    await session.execute(pg_insert(t.cases).values(**case).on_conflict_do_update(
        index_elements=[t.cases.c.case_id], set_={**case, "updated_at": func.now()}))
    open_referrals = {row.agency: row for row in (await session.execute(
        select(t.referrals).where(t.referrals.c.case_id == graded.case_id, t.referrals.c.state.in_(OPEN_REFERRAL_STATES))
        .with_for_update())).all()}
    now = res.clock()
    # A re-grade moves the deadlines of referrals not yet acknowledged (counted from when
    # they were made: a case graded red later must be answered within red's hours).
    for row in open_referrals.values():
        if row.state == ReferralState.created and row.risk_level != graded.risk_level.value:
            await session.execute(update(t.referrals).where(t.referrals.c.id == row.id).values(
                risk_level=graded.risk_level.value, updated_at=now,
                ack_due_at=ack_due_at(res.routes, graded.risk_level, row.created_at, jurisdiction=row.jurisdiction)))
    wanted = destinations(res.routes, GradedCase(graded.risk_level, graded.emergency,
                                                 frozenset(graded.categories), frozenset(graded.needs)))
    events = []
    for destination in wanted:
        if destination.agency.value in open_referrals:
            continue
        referral_id = uuid.uuid4()
        due = ack_due_at(res.routes, graded.risk_level, now, jurisdiction=graded.jurisdiction)
        await session.execute(insert(t.referrals).values(
            id=referral_id, case_id=graded.case_id, agency=destination.agency.value, state=ReferralState.created.value,
            risk_level=graded.risk_level.value, jurisdiction=graded.jurisdiction, holder=graded.jurisdiction,
            created_at=now, ack_due_at=due))
        events.append(new_envelope(ReferralCreated(
            referral_id=referral_id, case_id=graded.case_id, agency=destination.agency, risk_level=graded.risk_level,
            emergency=graded.emergency, categories=list(graded.categories), needs=list(graded.needs),
            jurisdiction=graded.jurisdiction, ack_due_at=due,
            details_url=f"{res.public_url}/v1/referrals/{referral_id}", stage=graded.stage,
        ), case_id=graded.case_id, producer=PRODUCER, causation=event))
    await add_events(session, OUTBOX, *events)


async def respond(session: AsyncSession, answer: ReferralResponded, res: Resources, *,
                  causation: Envelope | None = None) -> dict | None:
    """Apply an agency's answer. Returns the referral after it, or None if it repeated
    what already happened. Raises IllegalTransition, ForeignAnswer or LookupError."""
    row = (await session.execute(select(t.referrals).where(t.referrals.c.id == answer.referral_id)
                                 .with_for_update())).first()
    if row is None or row.case_id != answer.case_id:
        raise LookupError(f"no referral {answer.referral_id} for case {answer.case_id}")
    if row.agency != answer.agency.value:
        raise ForeignAnswer(f"referral {answer.referral_id} is addressed to {row.agency}, not {answer.agency}")
    target = next_state(ReferralState(row.state), answer.action)
    if target is None:
        return None
    now = res.clock()
    first_acknowledgement = row.acknowledged_at is None and target in (ReferralState.acknowledged,
                                                                       ReferralState.in_progress)
    values = dict(state=target.value, updated_at=now, responder_ref=answer.responder_ref,
                  outcome=answer.outcome, reason=answer.reason)
    if first_acknowledgement:
        values["acknowledged_at"] = answer.responded_at
    await session.execute(update(t.referrals).where(t.referrals.c.id == row.id).values(**values))
    stage = await _case_stage(session, row.case_id, acknowledged=first_acknowledgement)
    await add_events(session, OUTBOX, new_envelope(ReferralStatusChanged(
        referral_id=row.id, case_id=row.case_id, agency=Agency(row.agency), state=target,
        outcome=answer.outcome if target == ReferralState.done else None,
        reason=answer.reason if target in (ReferralState.done, ReferralState.declined) else None,
        changed_at=now, stage=stage,
    ), case_id=row.case_id, producer=PRODUCER, causation=causation))
    return {**row._mapping, **values}


async def _case_stage(session: AsyncSession, case_id: uuid.UUID, *, acknowledged: bool) -> Stage:
    """The first acknowledged referral moves a case to `services` (stages only go forward)."""
    current = Stage(await session.scalar(select(t.cases.c.stage).where(t.cases.c.case_id == case_id)
                                         .with_for_update()))
    stage = advance_stage(current, Stage.services) if acknowledged else current
    if stage != current:
        await session.execute(update(t.cases).where(t.cases.c.case_id == case_id).values(stage=stage.value))
    return stage


async def escalate_overdue(session: AsyncSession, res: Resources, *, limit: int = 200) -> int:
    """Every referral still unacknowledged past its deadline goes one level up the tree and
    gets a new deadline there. Returns how many were escalated.

    Durable and exact: the new holder, deadline and the event commit together, so a restart
    neither loses an escalation nor repeats one.
    """
    now = res.clock()
    # Referrals already at the city stay overdue on its list; leaving them out keeps them
    # from filling every batch and starving the ones that can still move up.
    rows = (await session.execute(
        select(t.referrals).where(and_(t.referrals.c.state == ReferralState.created.value,
                                       t.referrals.c.ack_due_at <= now, below_the_top(t.referrals.c.holder)))
        .order_by(t.referrals.c.ack_due_at).limit(limit).with_for_update(skip_locked=True))).all()
    escalated = 0
    for row in rows:
        target = escalation_target(row.holder)
        if target is None:
            continue  # the city is the top of the network: it stays overdue there, on its list
        to_jurisdiction, to_level = target
        # The new holder answers within the deadlines of the case's own territory.
        due = ack_due_at(res.routes, RiskLevel(row.risk_level), now, jurisdiction=row.jurisdiction)
        await session.execute(update(t.referrals).where(t.referrals.c.id == row.id).values(
            holder=to_jurisdiction, ack_due_at=due, escalations=row.escalations + 1, updated_at=now))
        await add_events(session, OUTBOX, new_envelope(ReferralEscalated(
            referral_id=row.id, case_id=row.case_id, agency=Agency(row.agency), from_jurisdiction=row.holder,
            to_jurisdiction=to_jurisdiction, to_level=to_level, ack_due_at=due, escalated_at=now,
        ), case_id=row.case_id, producer=PRODUCER))
        escalated += 1
    return escalated



async def waiting_gauges(session: AsyncSession, res: Resources) -> list[Gauge]:
    """Referrals not yet acknowledged, and those past their deadline, by grade: a red one
    overdue is the alert an operator must not miss."""
    r = t.referrals.c
    overdue = (r.ack_due_at <= res.clock()).label("overdue")
    rows = (await session.execute(select(r.risk_level, overdue, func.count()).where(
        r.state == ReferralState.created.value).group_by(r.risk_level, overdue))).all()
    counts = {(level, late): n for level, late, n in rows}
    gauges = []
    for level in RiskLevel:
        waiting = counts.get((level.value, False), 0) + counts.get((level.value, True), 0)
        gauges += [Gauge("cpnet_referrals_unacknowledged", "Referrals no agency has acknowledged yet", waiting,
                         {"risk_level": level.value}),
                   Gauge("cpnet_referrals_overdue", "Referrals past their acknowledgement deadline",
                         counts.get((level.value, True), 0), {"risk_level": level.value})]
    return gauges
