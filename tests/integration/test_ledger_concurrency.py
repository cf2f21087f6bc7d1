"""Fifty concurrent writers append to the real ledger: no gap, no fork, and the chain verifies."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import ConsumerRecord
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from cpnet.registry import upgrade
from services.audit import tables as t
from services.audit.chain import Entry, verify
from services.audit.decide import message_of
from services.audit.ledger import append_messages
from shared.db.engine import make_session_factory


def _record(n: int) -> ConsumerRecord:
    value = (
        f'{{"event_id": "{uuid.uuid4()}", "event_type": "test.concurrent", "case_id": "{uuid.uuid4()}",'
        f' "producer": "writer-{n}", "occurred_at": "2026-11-29T00:00:00Z", "payload": {{"n": {n}}}}}'
    ).encode()
    return ConsumerRecord(
        topic="test.ledger",
        partition=n % 3,
        offset=n,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=(),
    )


async def test_fifty_concurrent_writers_leave_no_gap_and_no_fork(infra) -> None:
    await asyncio.to_thread(upgrade, "audit", infra.database_url)
    engine = create_async_engine(infra.database_url, pool_size=50, max_overflow=0)
    sessions = make_session_factory(engine)
    try:
        async with sessions() as session:
            before = await session.scalar(select(func.coalesce(func.max(t.ledger.c.seq), 0)))

        async def writer(n: int) -> None:
            for k in range(4):
                async with sessions.begin() as session:
                    await append_messages(session, [message_of(_record(n * 100 + k))])

        await asyncio.gather(*(writer(n) for n in range(50)))
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(t.ledger.c.seq, t.ledger.c.record, t.ledger.c.prev_hash, t.ledger.c.hash).order_by(
                        t.ledger.c.seq
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    seqs = [r.seq for r in rows]
    assert seqs == list(range(1, len(seqs) + 1)), "no gap"
    assert len(seqs) - before == 200
    assert len({r.prev_hash for r in rows}) == len(rows), "no two entries share a predecessor: no fork"
    entries = [Entry(seq=r.seq, record=r.record, prev_hash=r.prev_hash, hash=r.hash) for r in rows]
    assert verify(entries, [], {}) == []
