"""Appending to the ledger: the entries a batch of messages makes (services/audit/decide.py) are
hash-chained onto the ledger's end, under one advisory lock so the chain can never fork; a batch at
a time, chained to the ledger's end as this process remembers it. `LedgerStore` is this as the unit
of work's store (shared/unit_of_work.py)."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Text, bindparam, cast, insert, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from services.audit import tables as t
from services.audit.chain import Entry, append
from services.audit.decide import Message
from shared.db.rows import any_of

LEDGER_LOCK = zlib.crc32(b"cpnet.audit.ledger")


async def last_entry(session: AsyncSession) -> Entry | None:
    row = (
        await session.execute(
            select(t.ledger.c.seq, t.ledger.c.record, t.ledger.c.prev_hash, t.ledger.c.hash)
            .order_by(t.ledger.c.seq.desc())
            .limit(1)
        )
    ).first()
    return Entry(seq=row.seq, record=row.record, prev_hash=row.prev_hash, hash=row.hash) if row else None


class LedgerEnd:
    """The ledger's last entry as this process last chained it, so a batch needs no query for it.

    Only ever a guess, confirmed for each batch once the appenders' lock is held, by the query
    that looks for duplicates: the entry at its seq must still carry its hash (a rolled-back
    batch's never does) and none may follow it (another writer's would). Otherwise the real
    end is read, so a stale guess costs one query and never a fork or a gap.
    """

    def __init__(self) -> None:
        self.entry: Entry | None = None
        self.known = False  # nothing is guessed before the first batch
        self.reads = 0  # times the end had to be read from the database (tests, profiles)

    def confirmed_by(self, found: dict[int, bytes]) -> bool:
        """Whether the guess still holds, given the hashes found at its seq and the next."""
        seq = self.entry.seq if self.entry else 0
        if not self.known or seq + 1 in found:
            return False
        return self.entry is None or found.get(seq) == self.entry.hash

    def probe(self) -> list[int]:
        seq = self.entry.seq if self.entry else 0
        return [seq, seq + 1]

    def moved_to(self, entry: Entry | None) -> None:
        self.entry, self.known = entry, True

    def read(self, entry: Entry | None) -> None:
        """The end as the database has it, once the guess did not hold."""
        self.reads += 1
        self.moved_to(entry)


async def _look_up(
    session: AsyncSession, keys: list[str], probe: list[int]
) -> tuple[set[str], dict[int, bytes]]:
    """In one query: which of `keys` the ledger holds already, and the hashes at the `probe` seqs."""
    c = t.ledger.c
    query = select(c.event_key, c.seq, c.hash).where(or_(any_of(c.event_key, keys), any_of(c.seq, probe)))
    rows = (await session.execute(query)).all()
    wanted = set(keys)
    known = {r.event_key for r in rows if r.event_key in wanted}
    return known, {r.seq: r.hash for r in rows if r.seq in probe}


# The record is stored as the very text its hash covers (encoded once, not again by the JSON type).
_INSERT = insert(t.ledger).values(record=cast(bindparam("canonical", type_=Text), JSONB))


def new_entries(
    previous: Entry | None, messages: Sequence[Message], known: set[str]
) -> tuple[list[Entry], list[dict]]:
    """The entries `messages` add after `previous`, skipping those already on the ledger (and
    repeats within the batch), with the rows that store them."""
    known = set(known)
    entries, rows = [], []
    for message in messages:
        if message.event_key in known:
            continue
        known.add(message.event_key)
        entry = append(previous, message.record, parsed=True)
        entries.append(entry)
        rows.append(
            {
                "seq": entry.seq,
                "event_key": message.event_key,
                "case_id": message.case_id,
                "event_type": message.event_type,
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "occurred_at": message.occurred_at,
                "canonical": entry.canonical.decode("utf-8"),
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
            }
        )
        previous = entry
    return entries, rows


async def append_messages(
    session: AsyncSession, messages: Sequence[Message], end: LedgerEnd | None = None
) -> list[Entry]:
    """Chain `messages` onto the ledger inside the caller's transaction. With `end`, the
    ledger's end as this process remembers it (confirmed, or read when it does not hold)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LEDGER_LOCK})
    end = end or LedgerEnd()
    known, found = await _look_up(session, [m.event_key for m in messages], end.probe())
    if not end.confirmed_by(found):
        end.read(await last_entry(session))
    entries, rows = new_entries(end.entry, messages, known)
    if rows:
        await session.execute(_INSERT, rows)
        # Ahead of the commit: if it rolls back, the next batch finds no entry with this hash.
        end.moved_to(entries[-1])
    return entries


@dataclass
class LedgerStore:
    """The ledger as the unit of work's store. It keeps no state of a case, so `load` reads
    nothing; `save` chains the batch's entries (the decisions' records) onto the ledger's end:
    the lock, one query for known keys and the end, one insert — as many statements as before
    the unit of work, and the lock held only while the chain is read and written."""

    end: LedgerEnd = field(default_factory=LedgerEnd)

    async def load(self, tx: AsyncSession, events: Sequence[Any]) -> dict[uuid.UUID, None]:
        return {}

    async def save(
        self,
        tx: AsyncSession,
        loaded: Mapping[uuid.UUID, None],
        states: Mapping[uuid.UUID, None],
        records: Sequence[Message],
    ) -> None:
        if records:
            await append_messages(tx, records, self.end)
