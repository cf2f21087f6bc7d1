"""The ledger's end kept in memory on the real database: read once, not per batch, and never
trusted when it went stale — after a rolled-back batch, or after another writer appended."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import Engine, event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from cpnet.registry import upgrade
from services.audit import tables as t
from services.audit.chain import Entry, entry_hash
from services.audit.decide import Message, message_of, read
from services.audit.handlers import stage
from services.audit.ledger import LedgerEnd, append_messages
from shared.db.engine import make_session_factory
from shared.messaging.consumer import Delivery


class BatchFailed(Exception):
    """The consumer's transaction failing after the ledger batch was chained (e.g. its commit)."""


def _record(topic: str = "test.ledger", offset: int = 0) -> ConsumerRecord:
    value = (
        f'{{"event_id": "{uuid.uuid4()}", "event_type": "test.ledger_end",'
        f' "case_id": "{uuid.uuid4()}", "producer": "test", "occurred_at": "2026-12-01T00:00:00Z",'
        ' "payload": {}}'
    ).encode()
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=(),
    )


def _batch(size: int) -> list[Message]:
    return [message_of(_record()) for _ in range(size)]


@pytest.fixture
async def sessions(infra) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await asyncio.to_thread(upgrade, "audit", infra.database_url)
    engine = create_async_engine(infra.database_url, pool_size=2)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


async def _append(sessions: async_sessionmaker[AsyncSession], end: LedgerEnd, size: int) -> list[Entry]:
    async with sessions.begin() as session:
        return await append_messages(session, _batch(size), end)


async def _chain_from(sessions: async_sessionmaker[AsyncSession], seq: int) -> list[Entry]:
    async with sessions() as session:
        c = t.ledger.c
        query = select(c.seq, c.record, c.prev_hash, c.hash).where(c.seq >= seq).order_by(c.seq)
        rows = (await session.execute(query)).all()
    return [Entry(seq=r.seq, record=r.record, prev_hash=r.prev_hash, hash=r.hash) for r in rows]


def _assert_one_chain(entries: list[Entry]) -> None:
    """Consecutive seqs, each entry linked to the one before and hashed over what it stores."""
    assert [e.seq for e in entries] == list(range(entries[0].seq, entries[0].seq + len(entries))), "no gap"
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.hash, f"entry {after.seq} links to entry {before.seq}"
    for entry in entries:
        assert entry_hash(entry.seq, entry.record, entry.prev_hash) == entry.hash


async def test_the_end_is_read_once_not_per_batch(sessions) -> None:
    end = LedgerEnd()
    first = await _append(sessions, end, 3)
    for _ in range(4):
        await _append(sessions, end, 3)
    assert end.reads == 1, "after the first batch the end comes from memory"
    _assert_one_chain(await _chain_from(sessions, first[0].seq))


async def test_after_a_rolled_back_batch_the_next_links_to_the_last_committed_entry(sessions) -> None:
    end = LedgerEnd()
    committed = await _append(sessions, end, 3)
    with pytest.raises(BatchFailed):
        async with sessions.begin() as session:
            await append_messages(session, _batch(4), end)
            raise BatchFailed()
    after = await _append(sessions, end, 2)

    assert after[0].seq == committed[-1].seq + 1, "the rolled-back entries' seqs are taken again"
    assert after[0].prev_hash == committed[-1].hash
    stored = await _chain_from(sessions, committed[0].seq)
    assert [e.hash for e in stored] == [e.hash for e in committed + after], "nothing of the failed batch"
    _assert_one_chain(stored)


async def test_after_another_writer_appended_the_next_batch_links_to_its_entries(sessions) -> None:
    # Two audit processes: the ledger's lock passes to the other and back between batches.
    ours, theirs = LedgerEnd(), LedgerEnd()
    first = await _append(sessions, ours, 2)
    others = await _append(sessions, theirs, 3)
    again = await _append(sessions, ours, 2)

    assert again[0].prev_hash == others[-1].hash, "chained to the other writer's last entry"
    assert ours.reads == 2, "the end was read again once the other writer had moved it"
    _assert_one_chain(await _chain_from(sessions, first[0].seq))


async def test_the_ledgers_stage_appends_a_batch_in_three_statements(sessions) -> None:
    # The unit of work adds none: the lock, the one query for known keys and the end, the insert.
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    end = LedgerEnd()
    ledger = stage(end)

    async def run(size: int) -> None:
        records = [_record("case.reported", n) for n in range(size)]
        async with sessions.begin() as session:
            await ledger(session, [(read(r), Delivery.of(r)) for r in records])

    await run(2)  # the first batch reads the end
    event.listen(Engine, "before_cursor_execute", count)
    try:
        await run(50)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert len(statements) == 3, statements
    assert end.reads == 1
    _assert_one_chain(await _chain_from(sessions, end.entry.seq - 51))
