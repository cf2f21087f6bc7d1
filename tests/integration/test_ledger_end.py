"""The ledger's chains' ends kept in memory on the real database: read once, not per batch, and
never trusted when they went stale — after a rolled-back batch, or after another writer appended."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import Engine, event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.audit import tables as t
from services.audit.chain import GENESIS, Entry, entry_hash
from services.audit.decide import Message, message_of, read
from services.audit.handlers import stage
from services.audit.ledger import LedgerEnd, append_messages
from shared.messaging.consumer import Delivery
from tests.integration.support import consumer_record


class BatchFailed(Exception):
    """The consumer's transaction failing after the ledger batch was chained (e.g. its commit)."""


class Own:
    """Each test's own topic (set below): its chain is `<topic>/0`."""

    topic = "test.ledger_end"


@pytest.fixture(autouse=True)
def _own_chain() -> None:
    Own.topic = f"test.ledger_end.{uuid.uuid4().hex[:8]}"


def _record(topic: str | None = None, offset: int = 0) -> ConsumerRecord:
    topic = topic or Own.topic
    value = (
        f'{{"event_id": "{uuid.uuid4()}", "event_type": "test.ledger_end",'
        f' "case_id": "{uuid.uuid4()}", "producer": "test", "occurred_at": "2026-12-01T00:00:00Z",'
        ' "payload": {}}'
    ).encode()
    return consumer_record(topic, 0, offset, value)


def _batch(size: int) -> list[Message]:
    return [message_of(_record()) for _ in range(size)]


@pytest.fixture
def sessions(audit_sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    return audit_sessions


async def _append(sessions: async_sessionmaker[AsyncSession], end: LedgerEnd, size: int) -> list[dict]:
    async with sessions.begin() as session:
        return await append_messages(session, _batch(size), end)


async def _chain(
    sessions: async_sessionmaker[AsyncSession], topic: str | None = None, last: int = 10**6
) -> list[Entry]:
    """The chain of `topic` (this test's own by default) partition 0: its `last` entries."""
    chain = f"{topic or Own.topic}/0"
    async with sessions() as session:
        c = t.ledger.c
        query = (
            select(c.position, c.record, c.prev_hash, c.hash)
            .where(c.chain == chain)
            .order_by(c.position.desc())
            .limit(last)
        )
        rows = (await session.execute(query)).all()[::-1]
    return [
        Entry(seq=r.position, record=r.record, prev_hash=r.prev_hash, hash=r.hash, chain=chain) for r in rows
    ]


def _assert_one_chain(entries: list[Entry]) -> None:
    """Consecutive positions (from 1, linked to GENESIS, if they start there), each entry linked
    to the one before and hashed over what it stores."""
    first = entries[0].seq
    assert [e.seq for e in entries] == list(range(first, first + len(entries))), "no gap"
    assert first > 1 or entries[0].prev_hash == GENESIS
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.hash, f"entry {after.seq} links to entry {before.seq}"
    for entry in entries:
        assert entry_hash(entry.seq, entry.record, entry.prev_hash, entry.chain) == entry.hash


async def test_the_end_is_read_once_not_per_batch(sessions) -> None:
    end = LedgerEnd()
    for _ in range(5):
        await _append(sessions, end, 3)
    assert end.reads == 1, "after the first batch the end comes from memory"
    chain = await _chain(sessions)
    assert len(chain) == 15
    _assert_one_chain(chain)


async def test_after_a_rolled_back_batch_the_next_links_to_the_last_committed_entry(sessions) -> None:
    end = LedgerEnd()
    committed = await _append(sessions, end, 3)
    with pytest.raises(BatchFailed):
        async with sessions.begin() as session:
            await append_messages(session, _batch(4), end)
            raise BatchFailed()
    after = await _append(sessions, end, 2)

    assert after[0]["position"] == committed[-1]["position"] + 1, "the rolled-back places are taken again"
    assert after[0]["prev_hash"] == committed[-1]["hash"]
    stored = await _chain(sessions)
    assert [e.hash for e in stored] == [r["hash"] for r in committed + after], "nothing of the failed batch"
    _assert_one_chain(stored)


async def test_after_another_writer_appended_the_next_batch_links_to_its_entries(sessions) -> None:
    # Two audit processes: the ledger's lock passes to the other and back between batches.
    ours, theirs = LedgerEnd(), LedgerEnd()
    await _append(sessions, ours, 2)
    others = await _append(sessions, theirs, 3)
    again = await _append(sessions, ours, 2)

    assert again[0]["prev_hash"] == others[-1]["hash"], "chained to the other writer's last entry"
    assert ours.reads == 2, "the end was read again once the other writer had moved it"
    _assert_one_chain(await _chain(sessions))


async def test_the_ledgers_stage_appends_a_batch_in_three_statements(sessions) -> None:
    # The unit of work adds none: the lock, the one query for known keys and the end, the insert.
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    end = LedgerEnd()
    ledger = stage(end)

    async def run(size: int) -> None:
        records = [_record("case.reported", n) for n in range(size)]  # an audited topic
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
    _assert_one_chain(await _chain(sessions, "case.reported", last=52))
