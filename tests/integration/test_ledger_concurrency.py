"""Fifty concurrent writers append to the real ledger's chains: no gap, no fork, and every chain
verifies."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.registry import upgrade
from services.audit import tables as t
from services.audit.chain import Entry, verify
from services.audit.decide import message_of
from services.audit.ledger import append_messages
from shared.db.engine import make_session_factory
from tests.integration.support import consumer_record

TOPIC = f"test.ledger.{uuid.uuid4().hex[:8]}"


def _record(n: int) -> ConsumerRecord:
    value = (
        f'{{"event_id": "{uuid.uuid4()}", "event_type": "test.concurrent", "case_id": "{uuid.uuid4()}",'
        f' "producer": "writer-{n}", "occurred_at": "2026-11-29T00:00:00Z", "payload": {{"n": {n}}}}}'
    ).encode()
    return consumer_record(TOPIC, n % 3, n, value)


async def test_fifty_concurrent_writers_leave_no_gap_and_no_fork(infra) -> None:
    await asyncio.to_thread(upgrade, "audit", infra.database_url)
    engine = create_async_engine(infra.database_url, pool_size=50, max_overflow=0)
    sessions = make_session_factory(engine)
    try:

        async def writer(n: int) -> None:
            for k in range(4):
                async with sessions.begin() as session:
                    await append_messages(session, [message_of(_record(n * 100 + k))])

        await asyncio.gather(*(writer(n) for n in range(50)))
        c = t.ledger.c
        query = (
            select(c.chain, c.position, c.record, c.prev_hash, c.hash)
            .where(c.topic == TOPIC)
            .order_by(c.chain, c.position)
        )
        async with sessions() as session:
            rows = (await session.execute(query)).all()
    finally:
        await engine.dispose()
    assert len(rows) == 200
    for partition in range(3):
        positions = [r.position for r in rows if r.chain == f"{TOPIC}/{partition}"]
        assert positions == list(range(1, len(positions) + 1)), "no gap"
    assert len({r.prev_hash for r in rows}) == len(rows) - 2, (
        "only the three first entries share GENESIS: no fork"
    )
    entries = [
        Entry(seq=r.position, record=r.record, prev_hash=r.prev_hash, hash=r.hash, chain=r.chain)
        for r in rows
    ]
    assert verify(entries, [], {}) == []
