"""Follow-up's shell: load the visit plans at hand, let services/followup/decide.py keep them at
each grade's cadence, announce visits as due and overdue, record visits, send new risk back to
assessment and close a case when it is safe; then save the plans and stage the events at once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.followup import tables as t
from services.followup.decide import (
    Plan,
    Visit,
    VisitOutcome,
    announced,
    latest_referral_states,
    visited,
)
from services.followup.schedule import FollowupPolicy, overdue_grace
from shared.contracts.envelope import Envelope
from shared.contracts.events import ReferralStatusChanged
from shared.contracts.vocabulary import OPEN_REFERRAL_STATES, CaseStatus, Indicator, Need, RiskLevel
from shared.crypto import FieldCipher
from shared.db.rows import locked_by, upsert_rows
from shared.db.tables import outbox_table
from shared.metrics import Gauge
from shared.notes import save_notes, written
from shared.unit_of_work import Work

__all__ = [
    "OUTBOX",
    "PlanNotFound",
    "Resources",
    "VisitOutcome",
    "announce_due_visits",
    "overdue_gauges",
    "record_visit",
]

PRODUCER = "followup"
OUTBOX = outbox_table(t.metadata)


@dataclass(frozen=True)
class Resources:
    policy: FollowupPolicy
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    new_id: Callable[[], uuid.UUID] = uuid.uuid4  # each new plan's id
    cipher: FieldCipher | None = None  # seals the notes visitors write over HTTP (the consumers write none)


class PlanNotFound(LookupError):
    pass


async def load_plans(session: AsyncSession, case_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Plan]:
    """The plans of the cases at hand, locked, in one query. Rows are locked in case order, so
    two transactions that share cases wait for each other instead of deadlocking."""
    rows = await locked_by(session, t.plans, t.plans.c.case_id, case_ids)
    return {row.case_id: Plan.of_row(row) for row in rows}


async def save_plans(session: AsyncSession, plans: Sequence[Plan]) -> None:
    """Write whole plans with one statement (each is locked by the caller, or new)."""
    await upsert_rows(
        session, t.plans, [plan.as_row() for plan in sorted(plans, key=lambda plan: plan.case_id)]
    )


async def save_referral_states(session: AsyncSession, changes: Sequence[ReferralStatusChanged]) -> None:
    await upsert_rows(
        session, t.referral_states, latest_referral_states(changes), updated=("case_id", "agency", "state")
    )


class PlanStore:
    """The plans of the cases at hand, and the referrals' latest states, for shared/unit_of_work.py."""

    async def load(self, tx: AsyncSession, events: Sequence[Envelope]) -> dict[uuid.UUID, Plan]:
        return await load_plans(tx, (event.case_id for event in events))

    async def save(self, tx: AsyncSession, loaded, plans, changes: Sequence[ReferralStatusChanged]) -> None:
        await save_referral_states(tx, changes)
        await save_plans(tx, [plan for case_id, plan in plans.items() if loaded.get(case_id) != plan])


async def announce_due_visits(work: Work, res: Resources, *, limit: int = 500) -> int:
    """Emit followup.due once per due date and followup.overdue once per missed one, staged on the
    sweep's unit of work.

    The announced date is stored in the same transaction as the event, so a restart
    neither loses an announcement nor makes it twice.
    """
    session = work.tx
    now = res.clock()
    p = t.plans.c
    # Only plans with something left to announce: the missed visits already announced would
    # otherwise fill every batch, oldest first, and starve the newly due ones.
    grace = overdue_grace(res.policy)
    due_unannounced = p.due_announced_for.is_distinct_from(p.next_visit_due_at)
    overdue_unannounced = p.overdue_announced_for.is_distinct_from(p.next_visit_due_at) & (
        p.next_visit_due_at <= now - grace
    )
    query = (
        select(t.plans)
        .where(p.state == CaseStatus.open, p.next_visit_due_at <= now, due_unannounced | overdue_unannounced)
        .order_by(p.next_visit_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = await session.execute(query)
    decisions = [announced(Plan.of_row(row), res.policy, now) for row in rows]
    decisions = [decision for decision in decisions if decision.events]
    await save_plans(session, [decision.plan for decision in decisions])
    for decision in decisions:
        work.uow.stage(decision.events, case_id=decision.plan.case_id, cause=None)
    return sum(len(decision.events) for decision in decisions)


async def record_visit(
    work: Work,
    case_id: uuid.UUID,
    res: Resources,
    *,
    visited_at: datetime,
    visitor_ref: str,
    indicators: list[Indicator],
    needs_met: list[Need],
    needs_unmet: list[Need],
    visible: Callable[[str], bool],
    note: str | None = None,
) -> VisitOutcome:
    """A visit, with the visitor's note, and what it changes: the plan, and the events it causes
    (staged on the route's unit of work)."""
    session = work.tx
    plan = (await load_plans(session, [case_id])).get(case_id)
    if plan is None or not visible(plan.jurisdiction):
        raise PlanNotFound(f"no visit plan for case {case_id} in your territory")
    referrals = t.referral_states.c
    open_referrals = await session.scalar(
        select(func.count())
        .select_from(t.referral_states)
        .where(referrals.case_id == case_id, referrals.state.in_(OPEN_REFERRAL_STATES))
    )
    v = t.visits.c
    earlier = await session.execute(
        select(v.visited_at, v.risk_found).where(v.case_id == case_id).order_by(v.visited_at, v.recorded_at)
    )
    visit = Visit(
        visit_id=uuid.uuid4(),
        visited_at=visited_at,
        visitor_ref=visitor_ref,
        indicators=tuple(indicators),
        needs_met=tuple(needs_met),
        needs_unmet=tuple(needs_unmet),
    )
    now = res.clock()
    result = visited(
        plan,
        visit,
        earlier_visits=[tuple(row) for row in earlier],
        open_referrals=open_referrals,
        policy=res.policy,
        now=now,
    )
    await session.execute(insert(t.visits).values(**visit.as_row(case_id)))
    await save_notes(
        session,
        t.notes,
        res.cipher,
        [written(note, case_id=case_id, action="visit", by=visitor_ref, at=now, about=visit.visit_id)],
    )
    await save_plans(session, [result.plan])
    work.uow.stage(result.events, case_id=case_id, cause=None)
    return result.outcome


async def overdue_gauges(session: AsyncSession, res: Resources) -> list[Gauge]:
    """Open plans whose visit is past due, and past the overdue grace, by grade."""
    p = t.plans.c
    now = res.clock()
    grace = overdue_grace(res.policy)
    rows = (
        await session.execute(
            select(
                p.risk_level,
                func.count().filter(p.next_visit_due_at <= now),
                func.count().filter(p.next_visit_due_at <= now - grace),
            )
            .where(p.state == CaseStatus.open)
            .group_by(p.risk_level)
        )
    ).all()
    counts = {level: (due, overdue) for level, due, overdue in rows}
    gauges = []
    for level in RiskLevel:
        due, overdue = counts.get(level.value, (0, 0))
        gauges += [
            Gauge(
                "cpnet_visits_due",
                "Open cases whose follow-up visit is due",
                due,
                {"risk_level": level.value},
            ),
            Gauge(
                "cpnet_visits_overdue",
                "Open cases whose visit is past the overdue grace",
                overdue,
                {"risk_level": level.value},
            ),
        ]
    return gauges
