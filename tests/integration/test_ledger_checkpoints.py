"""Signed checkpoints of a ledger in chains, on the real database: a checkpoint names every
chain's head; the next one, made by a process that has just started, goes on from the last
checkpoint's frontiers and reads only the entries appended since — not the whole ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import Engine, event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.audit import tables as t
from services.audit.chain import ledger_root
from services.audit.checkpoints import (
    chain_sizes,
    checkpoint_if_due,
    load_checkpoints,
    public_keys,
    verify_ledger,
)
from services.audit.decide import message_of
from services.audit.ledger import LedgerEnd, append_messages
from services.audit.settings import AuditSettings
from tests.integration.support import consumer_record

TOPIC = f"test.checkpoints.{uuid.uuid4().hex[:8]}"


def _record(partition: int, offset: int) -> ConsumerRecord:
    value = (
        f'{{"event_id": "{uuid.uuid4()}", "event_type": "test.checkpoint", "case_id": "{uuid.uuid4()}",'
        ' "producer": "test", "occurred_at": "2026-12-01T00:00:00Z", "payload": {}}'
    ).encode()
    return consumer_record(TOPIC, partition, offset, value)


@pytest.fixture
def sessions(audit_sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    return audit_sessions


async def _checkpoint(sessions, trees=None):
    async with sessions.begin() as session:
        return await checkpoint_if_due(session, AuditSettings(), force=True, trees=trees)


async def _hashes(sessions, chain: str) -> list[bytes]:
    c = t.ledger.c
    async with sessions() as session:
        query = select(c.hash).where(c.chain == chain).order_by(c.position)
        return list((await session.execute(query)).scalars())


async def test_a_restarted_sweep_reads_only_the_entries_since_the_last_checkpoint(sessions) -> None:
    end = LedgerEnd()
    async with sessions.begin() as session:
        await append_messages(session, [message_of(_record(n % 3, n)) for n in range(30)], end)
    first = await _checkpoint(sessions)
    heads = {h.chain: h for h in first.heads}
    for partition in range(3):
        chain = f"{TOPIC}/{partition}"
        assert heads[chain].size == 10
        assert heads[chain].root == ledger_root(await _hashes(sessions, chain))
    async with sessions() as session:
        stored = await load_checkpoints(session)
    assert first in stored and first.signature_valid(public_keys(AuditSettings())[first.key_id])

    # A new process (no trees in memory); five entries more in one chain.
    async with sessions.begin() as session:
        await append_messages(session, [message_of(_record(1, 100 + n)) for n in range(5)], end)
    reads: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        if "SELECT audit.ledger.hash" in statement:
            reads.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        second = await _checkpoint(sessions, trees={})
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    chain = f"{TOPIC}/1"
    grown = {h.chain: h for h in second.heads}[chain]
    assert grown.size == 15 and grown.root == ledger_root(await _hashes(sessions, chain))
    new = {h.chain for h in second.heads} - set(heads)
    grew = [h.chain for h in second.heads if h.chain in heads and h != heads[h.chain]]
    # Only the chains that grew since (this one, and any other test's) were read, not the ledger.
    assert len(reads) == len(grew) + len(new) and chain in grew, (grew, new, len(reads))
    assert second.size > first.size and second.created_at > first.created_at
    assert datetime.fromisoformat(second.created_at) <= datetime.now(UTC)


async def test_verify_reads_chain_by_chain_and_finds_the_ledger_intact(sessions) -> None:
    async with sessions.begin() as session:
        await append_messages(session, [message_of(_record(n % 2, 500 + n)) for n in range(10)])
    await _checkpoint(sessions)
    async with sessions() as session:
        entries, checkpoints, problems = await verify_ledger(session, AuditSettings())
        assert problems == [] and checkpoints >= 1
        assert entries == sum((await chain_sizes(session)).values())
