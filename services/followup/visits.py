"""Follow-up's handlers: keep a visit plan per graded case, announce visits as due and
overdue, record visits, send new risk back to assessment, and close a case when it is safe."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.followup import tables as t
from services.followup.schedule import FollowupPolicy, cadence, may_close, next_visit_due, overdue_at, overdue_grace
from shared.contracts.envelope import Envelope, new_envelope
from shared.contracts.events import (
    CaseAssessed, CaseClosed, CaseReassessmentRequested, FollowupDue, FollowupOverdue, FollowupScheduled,
    FollowupVisitRecorded, ReferralStatusChanged,
)
from shared.contracts.vocabulary import OPEN_REFERRAL_STATES, Indicator, Need, RiskLevel, Stage, advance_stage
from shared.db.tables import outbox_table
from shared.messaging.outbox import add_events
from shared.metrics import Gauge

PRODUCER = "followup"
OUTBOX = outbox_table(t.metadata)


@dataclass(frozen=True)
class Resources:
    policy: FollowupPolicy
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class PlanNotFound(LookupError):
    pass


async def on_case_assessed(session: AsyncSession, event: Envelope[CaseAssessed], res: Resources) -> None:
    graded = event.payload
    plan = (await session.execute(select(t.plans).where(t.plans.c.case_id == graded.case_id)
                                  .with_for_update())).first()
    days = cadence(res.policy, graded.risk_level, jurisdiction=graded.jurisdiction).days
    due = next_visit_due(res.policy, graded.risk_level, jurisdiction=graded.jurisdiction,
                         response_due_at=graded.response_due_at, last_visit_at=plan.last_visit_at if plan else None)
    if plan is not None and (plan.risk_level, plan.cadence_days, plan.next_visit_due_at, plan.state) == \
            (graded.risk_level.value, days, due, "open"):
        return  # nothing about the visits changed
    plan_id = plan.plan_id if plan is not None else uuid.uuid4()
    values = dict(plan_id=plan_id, state="open", jurisdiction=graded.jurisdiction,
                  risk_level=graded.risk_level.value, cadence_days=days, response_due_at=graded.response_due_at,
                  next_visit_due_at=due, stage=advance_stage(plan.stage if plan else None, graded.stage).value,
                  updated_at=res.clock())
    await session.execute(pg_insert(t.plans).values(case_id=graded.case_id, **values).on_conflict_do_update(
        index_elements=[t.plans.c.case_id], set_=values))
    await add_events(session, OUTBOX, new_envelope(FollowupScheduled(
        case_id=graded.case_id, plan_id=plan_id, risk_level=graded.risk_level, cadence_days=days,
        next_visit_due_at=due), case_id=graded.case_id, producer=PRODUCER, causation=event))


async def on_referral_status(session: AsyncSession, event: Envelope[ReferralStatusChanged], res: Resources) -> None:
    change = event.payload
    values = dict(case_id=change.case_id, agency=change.agency.value, state=change.state.value)
    await session.execute(pg_insert(t.referral_states).values(referral_id=change.referral_id, **values)
                          .on_conflict_do_update(index_elements=[t.referral_states.c.referral_id], set_=values))
    stage = await session.scalar(select(t.plans.c.stage).where(t.plans.c.case_id == change.case_id)
                                 .with_for_update())
    if stage is not None:
        await session.execute(update(t.plans).where(t.plans.c.case_id == change.case_id)
                              .values(stage=advance_stage(stage, change.stage).value))


async def announce_due_visits(session: AsyncSession, res: Resources, *, limit: int = 500) -> int:
    """Emit followup.due once per due date and followup.overdue once per missed one.

    The announced date is stored in the same transaction as the event, so a restart
    neither loses an announcement nor makes it twice.
    """
    now = res.clock()
    p = t.plans.c
    # Only plans with something left to announce: the missed visits already announced would
    # otherwise fill every batch, oldest first, and starve the newly due ones.
    grace = overdue_grace(res.policy)
    due_unannounced = p.due_announced_for.is_distinct_from(p.next_visit_due_at)
    overdue_unannounced = p.overdue_announced_for.is_distinct_from(p.next_visit_due_at) & (
        p.next_visit_due_at <= now - grace)
    rows = (await session.execute(
        select(t.plans).where(p.state == "open", p.next_visit_due_at <= now, due_unannounced | overdue_unannounced)
        .order_by(p.next_visit_due_at).limit(limit).with_for_update(skip_locked=True))).all()
    announced = 0
    for plan in rows:
        due = plan.next_visit_due_at
        events = []
        values: dict = {}
        if plan.due_announced_for != due:
            events.append(FollowupDue(case_id=plan.case_id, plan_id=plan.plan_id, visit_due_at=due,
                                      jurisdiction=plan.jurisdiction))
            values["due_announced_for"] = due
        if overdue_at(res.policy, due) <= now and plan.overdue_announced_for != due:
            events.append(FollowupOverdue(case_id=plan.case_id, plan_id=plan.plan_id, visit_due_at=due,
                                          jurisdiction=plan.jurisdiction))
            values["overdue_announced_for"] = due
        if events:
            await session.execute(update(t.plans).where(p.case_id == plan.case_id).values(**values))
            await add_events(session, OUTBOX, *(new_envelope(e, case_id=plan.case_id, producer=PRODUCER)
                                                for e in events))
            announced += len(events)
    return announced


@dataclass(frozen=True)
class VisitOutcome:
    visit_id: uuid.UUID
    next_visit_due_at: datetime | None
    reassessment_requested: bool
    closed: bool


async def record_visit(session: AsyncSession, case_id: uuid.UUID, res: Resources, *, visited_at: datetime,
                       visitor_ref: str, indicators: list[Indicator], needs_met: list[Need],
                       needs_unmet: list[Need], visible: Callable[[str], bool]) -> VisitOutcome:
    plan = (await session.execute(select(t.plans).where(t.plans.c.case_id == case_id).with_for_update())).first()
    if plan is None or not visible(plan.jurisdiction):
        raise PlanNotFound(f"no visit plan for case {case_id} in your territory")
    visit_id = uuid.uuid4()
    risk_found = bool(indicators)
    await session.execute(insert(t.visits).values(
        id=visit_id, case_id=case_id, visited_at=visited_at, visitor_ref=visitor_ref,
        indicators=[i.value for i in indicators], needs_met=[n.value for n in needs_met],
        needs_unmet=[n.value for n in needs_unmet], risk_found=risk_found))
    level = RiskLevel(plan.risk_level)
    last = max(filter(None, [plan.last_visit_at, visited_at]))
    due = last + cadence(res.policy, level, jurisdiction=plan.jurisdiction)
    stage = advance_stage(plan.stage, Stage.monitoring)
    events: list = [FollowupVisitRecorded(case_id=case_id, visit_id=visit_id, visited_at=visited_at,
                                          visitor_ref=visitor_ref, indicators=indicators, needs_met=needs_met,
                                          needs_unmet=needs_unmet, risk_found=risk_found, stage=stage)]
    reassess = risk_found or bool(needs_unmet)
    if reassess:
        # Monitoring feeds intervention: what the visit found goes back to assessment.
        events.append(CaseReassessmentRequested(case_id=case_id, visit_id=visit_id, indicators=indicators,
                                                unmet_needs=needs_unmet, reason="visit_found_new_risk"
                                                if risk_found else "visit_found_unmet_needs",
                                                requested_at=res.clock()))
    open_referrals = await session.scalar(select(func.count()).select_from(t.referral_states).where(
        t.referral_states.c.case_id == case_id, t.referral_states.c.state.in_(OPEN_REFERRAL_STATES)))
    history = (await session.execute(select(t.visits.c.risk_found).where(t.visits.c.case_id == case_id)
                                     .order_by(t.visits.c.visited_at, t.visits.c.recorded_at))).scalars().all()
    closed = not reassess and may_close(res.policy, risk_level=level, open_referrals=open_referrals,
                                        visits_found_risk=history)
    values = dict(last_visit_at=last, next_visit_due_at=due, stage=stage.value, updated_at=res.clock())
    if closed:
        values.update(state="closed", stage=Stage.closed.value)
        events.append(CaseClosed(case_id=case_id, reason="risk_resolved", closed_at=res.clock()))
    await session.execute(update(t.plans).where(t.plans.c.case_id == case_id).values(**values))
    await add_events(session, OUTBOX, *(new_envelope(e, case_id=case_id, producer=PRODUCER) for e in events))
    return VisitOutcome(visit_id, None if closed else due, reassess, closed)


async def overdue_gauges(session: AsyncSession, res: Resources) -> list[Gauge]:
    """Open plans whose visit is past due, and past the overdue grace, by grade."""
    p = t.plans.c
    now = res.clock()
    grace = overdue_grace(res.policy)
    rows = (await session.execute(select(p.risk_level, func.count().filter(p.next_visit_due_at <= now),
                                         func.count().filter(p.next_visit_due_at <= now - grace))
                                  .where(p.state == "open").group_by(p.risk_level))).all()
    counts = {level: (due, overdue) for level, due, overdue in rows}
    gauges = []
    for level in RiskLevel:
        due, overdue = counts.get(level.value, (0, 0))
        gauges += [Gauge("cpnet_visits_due", "Open cases whose follow-up visit is due", due,
                         {"risk_level": level.value}),
                   Gauge("cpnet_visits_overdue", "Open cases whose visit is past the overdue grace", overdue,
                         {"risk_level": level.value})]
    return gauges
