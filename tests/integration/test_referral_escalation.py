"""The escalation sweep on the real database: referrals that already reached the city (the
top of the network) stay overdue there, and never crowd out those that can still move up."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.registry import upgrade
from services.referral import tables as t
from services.referral.refer import OUTBOX, Resources, escalate_overdue
from services.referral.routing import load_routes
from shared.db.engine import make_session_factory
from shared.unit_of_work import TableOutbox, UnitOfWork, committed

NOW = datetime(2099, 6, 1, 12, 0, tzinfo=UTC)  # far ahead: every earlier referral is due too


@pytest.fixture
async def sessions(infra):
    await asyncio.to_thread(upgrade, "referral", infra.database_url)
    engine = create_async_engine(infra.database_url)
    yield make_session_factory(engine)
    await engine.dispose()


def referral(holder: str, due: datetime) -> dict:
    return {
        "id": uuid.uuid4(),
        "case_id": uuid.uuid4(),
        "agency": "police",
        "state": "created",
        "risk_level": "red",
        "jurisdiction": "140402001001",
        "holder": holder,
        "created_at": due - timedelta(hours=24),
        "ack_due_at": due,
    }


async def test_a_village_referral_escalates_behind_hundreds_already_at_the_city(sessions) -> None:
    at_the_city = [referral("140400000000", NOW - timedelta(days=30, minutes=n)) for n in range(300)]
    in_a_village = referral("140402001001", NOW - timedelta(hours=1))
    ids = [r["id"] for r in (*at_the_city, in_a_village)]
    async with sessions.begin() as session:
        await session.execute(t.referrals.insert(), [*at_the_city, in_a_village])
    try:
        clock = Resources(load_routes(), "http://referral", clock=lambda: NOW)
        while True:  # other tests' referrals, all due by NOW, go first: sweep until done
            async with committed(sessions.begin, UnitOfWork("referral", TableOutbox(OUTBOX))) as work:
                if not await escalate_overdue(work, clock, limit=200):
                    break
        async with sessions() as session:
            holders = dict(
                (
                    await session.execute(
                        select(t.referrals.c.id, t.referrals.c.holder).where(t.referrals.c.id.in_(ids))
                    )
                ).all()
            )
        assert holders[in_a_village["id"]] == "140402001000", "moved up to its township"
        assert {holders[r["id"]] for r in at_the_city} == {"140400000000"}, "the city is the top"
    finally:
        async with sessions.begin() as session:
            await session.execute(delete(t.referrals).where(t.referrals.c.id.in_(ids)))
