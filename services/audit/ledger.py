"""Appending to the ledger: the entries a batch of messages makes (services/audit/decide.py) are
hash-chained onto the ledger, one chain per partition of the ledger's input ("topic/partition").
Each chain has its own advisory lock, so it can never fork, and writers of different partitions —
a second audit instance, given other partitions by the consumer group — append at once. A batch
at a time, each chain chained to its end as this process remembers it. `LedgerStore` is this as
the unit of work's store (shared/unit_of_work.py)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ARRAY, Text, bindparam, cast, func, insert, or_, select, text, true, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from services.audit import tables as t
from services.audit.chain import Entry, append
from services.audit.decide import Message
from services.audit.indicators import Happening
from shared.db.rows import any_of


def chain_of(message: Message) -> str:
    """The chain a message's entry joins: its topic and partition (one writer at a time each,
    as the consumer group gives each partition to one consumer)."""
    return f"{message.topic}/{message.partition}"


def lock_key(chain: str) -> int:
    """The chain's advisory lock (a signed 64-bit key; two chains sharing one only wait on each other)."""
    return int.from_bytes(
        hashlib.sha256(b"cpnet.audit.chain\x00" + chain.encode()).digest()[:8], "big", signed=True
    )


# Every chain's lock at once, in the order of their keys, so two writers never wait on each other
# in a circle (unnest keeps the array's order).
_LOCK = text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(CAST(:keys AS bigint[])) AS k")


async def lock_chains(session: AsyncSession, chains: Iterable[str]) -> None:
    await session.execute(_LOCK, {"keys": sorted({lock_key(c) for c in chains})})


def _end(chain: str, position: int, hash_: bytes) -> Entry:
    """A chain's last entry as chaining needs it: its place and its hash."""
    return Entry(seq=position, record={}, prev_hash=b"", hash=hash_, chain=chain)


async def read_ends(session: AsyncSession, chains: Sequence[str]) -> dict[str, Entry | None]:
    """Each chain's last entry in the database (None: the chain has none yet), in one query."""
    c = t.ledger.c
    wanted = func.unnest(cast(list(chains), ARRAY(Text))).table_valued("chain").render_derived(name="wanted")
    last = (
        select(c.position, c.hash)
        .where(c.chain == wanted.c.chain)
        .order_by(c.position.desc())
        .limit(1)
        .lateral("last")
    )
    rows = (
        await session.execute(
            select(wanted.c.chain, last.c.position, last.c.hash).select_from(wanted.outerjoin(last, true()))
        )
    ).all()
    return {r.chain: (_end(r.chain, r.position, r.hash) if r.position is not None else None) for r in rows}


class LedgerEnd:
    """Each chain's last entry as this process last chained it, so a batch needs no query for it.

    Only ever a guess, confirmed for each batch once the chains' locks are held, by the query
    that looks for duplicates: the entry at its position must still carry its hash (a
    rolled-back batch's never does) and none may follow it (another writer's would). Otherwise
    the real end is read, so a stale guess costs one query and never a fork or a gap.
    """

    def __init__(self) -> None:
        self.entries: dict[str, Entry | None] = {}
        self.reads = 0  # times ends had to be read from the database (tests, profiles)

    def probe(self, chains: Iterable[str]) -> list[tuple[str, int]]:
        """The (chain, position) pairs whose hashes confirm the guesses for `chains`."""
        pairs = []
        for chain in chains:
            if chain in self.entries:
                position = self._position(chain)
                pairs += [(chain, position), (chain, position + 1)] if position else [(chain, 1)]
        return pairs

    def stale(self, chains: Iterable[str], found: Mapping[tuple[str, int], bytes]) -> list[str]:
        """The chains whose guess does not hold, given the hashes found at the probed places."""
        stale = []
        for chain in chains:
            if chain not in self.entries:
                stale.append(chain)
                continue
            entry, position = self.entries[chain], self._position(chain)
            if (chain, position + 1) in found or (
                entry is not None and found.get((chain, position)) != entry.hash
            ):
                stale.append(chain)
        return stale

    def _position(self, chain: str) -> int:
        """The guessed last position of a chain this process knows (0: no entry yet)."""
        entry = self.entries[chain]
        return entry.seq if entry else 0

    def moved_to(self, chain: str, entry: Entry | None) -> None:
        self.entries[chain] = entry

    def read(self, ends: Mapping[str, Entry | None]) -> None:
        """Ends as the database has them, once the guesses did not hold."""
        self.reads += 1
        self.entries.update(ends)


async def _look_up(
    session: AsyncSession, keys: list[str], probe: list[tuple[str, int]]
) -> tuple[set[str], dict[tuple[str, int], bytes]]:
    """In one query: which of `keys` the ledger holds already, and the hashes at the `probe` places."""
    c = t.ledger.c
    where = any_of(c.event_key, keys)
    if probe:
        where = or_(where, tuple_(c.chain, c.position).in_(probe))
    rows = (await session.execute(select(c.event_key, c.chain, c.position, c.hash).where(where))).all()
    wanted, probed = set(keys), set(probe)
    known = {r.event_key for r in rows if r.event_key in wanted}
    return known, {(r.chain, r.position): r.hash for r in rows if (r.chain, r.position) in probed}


# The record is stored as the very text its hash covers (encoded once, not again by the JSON type).
_INSERT = insert(t.ledger).values(record=cast(bindparam("canonical", type_=Text), JSONB))


def new_entries(
    ends: Mapping[str, Entry | None], messages: Sequence[Message], known: set[str]
) -> tuple[dict[str, Entry], list[dict]]:
    """The entries `messages` add after each chain's end, skipping those already on the ledger
    (and repeats within the batch): each chain's new last entry, and the rows that store them."""
    known = set(known)
    last: dict[str, Entry] = {}
    rows = []
    for message in messages:
        if message.event_key in known:
            continue
        known.add(message.event_key)
        chain = chain_of(message)
        entry = append(last.get(chain) or ends.get(chain), message.record, parsed=True, chain=chain)
        last[chain] = entry
        rows.append(
            {
                "chain": chain,
                "position": entry.seq,
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
    return last, rows


async def append_messages(
    session: AsyncSession, messages: Sequence[Message], end: LedgerEnd | None = None
) -> list[dict]:
    """Chain `messages` onto their chains inside the caller's transaction: the rows written. With
    `end`, the chains' ends as this process remembers them (confirmed, or read when they do not hold)."""
    chains = sorted({chain_of(m) for m in messages})
    if not chains:
        return []
    await lock_chains(session, chains)
    end = end or LedgerEnd()
    known, found = await _look_up(session, [m.event_key for m in messages], end.probe(chains))
    stale = end.stale(chains, found)
    if stale:
        end.read(await read_ends(session, stale))
    last, rows = new_entries(end.entries, messages, known)
    if rows:
        await session.execute(_INSERT, rows)
        # Ahead of the commit: if it rolls back, the next batch finds no entry with this hash.
        for chain, entry in last.items():
            end.moved_to(chain, entry)
    return rows


@dataclass
class LedgerStore:
    """The ledger as the unit of work's store. It keeps no state of a case, so `load` reads
    nothing; `save` chains the batch's entries (the decisions' records) onto their chains: the
    locks, one query for known keys and the ends, one insert — and the locks held only while the
    chains are read and written."""

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
            rows = await append_messages(tx, records, self.end)
            await add_happenings(tx, records, {row["event_key"] for row in rows})


async def add_happenings(tx: AsyncSession, messages: Sequence[Message], new: set[str]) -> None:
    """The happenings of the messages just appended (`new`: their event keys), in the same
    transaction: what the figures count is always exactly what the ledger holds."""
    rows = {
        (h.event_key, h.kind): happening_row(h) for m in messages if m.event_key in new for h in m.happenings
    }
    await insert_happenings(tx, list(rows.values()))


def happening_row(h: Happening) -> dict[str, Any]:
    return {name: getattr(h, name) for name in t.happenings.c.keys()} | {"categories": list(h.categories)}


_INSERT_HAPPENINGS = (
    "INSERT INTO audit.happenings "
    "SELECT * FROM jsonb_populate_recordset(NULL::audit.happenings, CAST(:rows AS jsonb))"
)


async def insert_happenings(
    tx: AsyncSession | AsyncConnection, rows: Sequence[dict[str, Any]], *, skip_known: bool = False
) -> None:
    """Write happenings (`happening_row`s) in one statement, whatever their number: audit_0010's
    statement trigger then remakes each of their cases' facts once (an executemany would remake a case
    once a row). `skip_known` leaves out a happening already written (the backfill's second run)."""
    if rows:
        conflict = " ON CONFLICT DO NOTHING" if skip_known else ""
        await tx.execute(text(_INSERT_HAPPENINGS + conflict), {"rows": json.dumps(rows, default=str)})
