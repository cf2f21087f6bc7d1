"""The visit sweep on the real database: missed visits already announced never crowd out the
ones newly due, however many there are."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.registry import upgrade
from services.followup import tables as t
from services.followup.schedule import load_policy
from services.followup.visits import OUTBOX, Resources, announce_due_visits
from shared.db.engine import make_session_factory
from shared.unit_of_work import TableOutbox, UnitOfWork, committed

# A moment far in the future; plans other tests left open that are due before it are swept
# too (they come first), so the sweep's limit leaves room for them and only this test's own
# cases are counted.
NOW = datetime(2099, 6, 1, 12, 0, tzinfo=UTC)
LIMIT = 500


@pytest.fixture
async def sessions(infra):
    await asyncio.to_thread(upgrade, "followup", infra.database_url)
    engine = create_async_engine(infra.database_url)
    yield make_session_factory(engine)
    await engine.dispose()


def plan(due: datetime, *, announced: bool) -> dict:
    return {
        "case_id": uuid.uuid4(),
        "plan_id": uuid.uuid4(),
        "state": "open",
        "jurisdiction": "140402001001",
        "risk_level": "orange",
        "cadence_days": 14,
        "response_due_at": due,
        "next_visit_due_at": due,
        "due_announced_for": due if announced else None,
        "overdue_announced_for": due if announced else None,
        "stage": "monitoring",
    }


async def test_a_newly_due_visit_is_announced_behind_a_thousand_missed_ones_already_announced(
    sessions,
) -> None:
    missed = [plan(NOW - timedelta(days=30, minutes=i), announced=True) for i in range(2 * LIMIT)]
    fresh = plan(NOW - timedelta(hours=1), announced=False)
    cases = [p["case_id"] for p in (*missed, fresh)]
    async with sessions.begin() as session:
        await session.execute(insert(t.plans), [*missed, fresh])
    try:
        async with committed(sessions.begin, UnitOfWork("followup", TableOutbox(OUTBOX))) as work:
            others = await work.tx.scalar(
                select(func.count())
                .select_from(t.plans)
                .where(
                    t.plans.c.state == "open",
                    t.plans.c.next_visit_due_at <= NOW,
                    t.plans.c.case_id.not_in(cases),
                )
            )
            # Fewer than the thousand: were the announced ones taken again, the new one would not fit.
            await announce_due_visits(work, Resources(load_policy(), clock=lambda: NOW), limit=others + LIMIT)
        async with sessions() as session:
            row = (await session.execute(select(t.plans).where(t.plans.c.case_id == fresh["case_id"]))).one()
            events = await session.scalar(
                select(func.count())
                .select_from(OUTBOX)
                .where(OUTBOX.c.aggregate_id.in_([str(c) for c in cases]))
            )
        assert events == 1, "the new due visit is announced, and none of the thousand already announced again"
        assert row.due_announced_for == fresh["next_visit_due_at"]
    finally:
        async with sessions.begin() as session:
            await session.execute(delete(t.plans).where(t.plans.c.case_id.in_(cases)))
            await session.execute(delete(OUTBOX).where(OUTBOX.c.aggregate_id.in_([str(c) for c in cases])))
