"""Casework's sweep: no case waits unseen. A written review past its deadline, and an open case
left with no owner or nothing due (a blind spot), go up to the county's supervisors — once per
missed deadline, once per blind spot — with the state that says so committed with the event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from services.casework import tables as t
from services.casework.cases import Resources
from services.casework.decide import CaseFile, escalated
from shared.contracts.vocabulary import CaseStatus, RiskLevel
from shared.db.engine import Transaction
from shared.db.rows import upsert_rows
from shared.metrics import Gauge
from shared.unit_of_work import Work

__all__ = ["escalate_cases", "late_gauges"]

ESCALATED_COLUMNS = ("review_escalated_for", "blind_spot_escalated_at")


def _late(res: Resources, now: datetime):
    """SQL: open listed cases whose review is late, and those left as blind spots past the grace."""
    c = t.cases.c
    review_late = c.reviewed_at.is_(None) & (c.review_due_at <= now)
    blind_spot = (c.owner_node.is_(None) | c.next_due_at.is_(None)) & (
        c.last_activity_at <= now - res.policy.blind_spot_after
    )
    return c.state == CaseStatus.open, c.jurisdiction.is_not(None), review_late, blind_spot


async def escalate_cases(work: Work, res: Resources, *, limit: int = 500) -> int:
    """Escalate what is late and not yet escalated, the events staged on the sweep's unit of work;
    returns how many escalations were made. Rows are taken oldest deadline first and skipped when
    another sweep holds them."""
    session = work.tx
    c = t.cases.c
    now = res.clock()
    is_open, listed, review_late, blind_spot = _late(res, now)
    not_yet = (review_late & c.review_escalated_for.is_distinct_from(c.review_due_at)) | (
        blind_spot & c.blind_spot_escalated_at.is_(None)
    )
    rows = await session.execute(
        select(t.cases)
        .where(is_open, listed, not_yet)
        .order_by(c.urgency, c.sort_due_at, c.case_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    decisions = [escalated(CaseFile.of_row(row), res.policy, now) for row in rows]
    decisions = [d for d in decisions if d.events]
    await upsert_rows(session, t.cases, [d.state.case.as_row() for d in decisions], updated=ESCALATED_COLUMNS)
    for d in decisions:
        work.uow.stage(d.events, case_id=d.state.case.case_id, cause=None)
    return sum(len(d.events) for d in decisions)


async def late_gauges(session: Transaction, res: Resources) -> list[Gauge]:
    """Open cases whose review is past its deadline, and blind spots (no owner or nothing due past
    the grace), by grade: both should be zero."""
    c = t.cases.c
    is_open, listed, review_late, blind_spot = _late(res, res.clock())
    query = select(c.risk_level, func.count().filter(review_late), func.count().filter(blind_spot))
    rows = (await session.execute(query.where(is_open, listed).group_by(c.risk_level))).all()
    counts = {level: (late, blind) for level, late, blind in rows}
    gauges = []
    for level in (*(r.value for r in RiskLevel), None):
        late, blind = counts.get(level, (0, 0))
        labels = {"risk_level": level or "not_graded"}
        gauges += [
            Gauge(
                "cpnet_case_reviews_overdue",
                "Open cases whose written review is past its deadline",
                late,
                labels,
            ),
            Gauge(
                "cpnet_case_blind_spots",
                "Open cases with no owner or nothing due, past the grace",
                blind,
                labels,
            ),
        ]
    return gauges
