"""A periodic bulletin's figures (定期通报), and their proof (issue 24).

`compute` counts a node's period from the happenings and names the ledger it counted: in one
snapshot (REPEATABLE READ), each chain's size and the hash of its last entry — a hash that commits
every entry of the chain before it — then the happenings. `recount` takes those heads and makes the
figures again from the ledger's entries alone: each counted entry within them, checked against its
own hash, read again as an event (services/audit/indicators.py), counted by the same rules. Anyone
holding the ledger can so check a published figure; `cpnet audit verify` checks the chains
themselves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.audit import tables as t
from services.audit.chain import entry_hash
from services.audit.checkpoints import chain_sizes
from services.audit.counted import counted_figures
from services.audit.indicators import (
    COUNTED,
    Figures,
    Happening,
    Kind,
    Period,
    counted_on,
    figures,
    happenings_of,
)
from services.audit.ledger import happening_row, insert_happenings
from shared.contracts.envelope import parse_event
from shared.territory.code import TerritoryCode, in_subtree, is_within


@dataclass(frozen=True)
class Heads:
    """The ledger a bulletin counted: each chain's size and the hash of its last entry."""

    chains: dict[str, tuple[int, str]]

    @property
    def digest(self) -> str:
        """One SHA-256 over the heads, printed on the bulletin."""
        return hashlib.sha256(json.dumps(self.chains, sort_keys=True).encode()).hexdigest()

    @property
    def size(self) -> int:
        return sum(size for size, _ in self.chains.values())

    def as_json(self) -> str:
        return json.dumps(self.chains, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text_: str) -> Heads:
        raw = json.loads(text_)
        return cls({chain: (int(size), str(hash_)) for chain, (size, hash_) in raw.items()})


@dataclass(frozen=True)
class Bulletin:
    figures: Figures
    heads: Heads
    computed_at: datetime


async def read_heads(session: AsyncSession) -> Heads:
    sizes = {chain: size for chain, size in (await chain_sizes(session)).items() if size}
    if not sizes:
        return Heads({})
    c = t.ledger.c
    rows = (
        await session.execute(
            select(c.chain, c.position, c.hash).where(tuple_(c.chain, c.position).in_(list(sizes.items())))
        )
    ).all()
    return Heads({r.chain: (r.position, r.hash.hex()) for r in rows})


async def node_happenings(session: AsyncSession, node: str, until: datetime) -> list[Happening]:
    """Every happening before `until` of the cases ever reported in or moved into `node`'s subtree."""
    h = t.happenings.c
    placed = (
        select(h.case_id)
        .where(
            h.kind.in_([Kind.reported, Kind.transferred]),
            in_subtree(h.jurisdiction, TerritoryCode(node).prefix),
        )
        .distinct()
    )
    rows = (await session.execute(select(t.happenings).where(h.case_id.in_(placed), h.at < until))).mappings()
    return [_happening(row) for row in rows]


def _happening(row) -> Happening:
    values = dict(row)
    values["kind"] = Kind(values["kind"])
    values["categories"] = tuple(values["categories"])
    return Happening(**values)


async def compute(
    session: AsyncSession,
    node: str,
    children: Sequence[str],
    period: Period,
    now: datetime | None = None,
    beside: async_sessionmaker[AsyncSession] | None = None,
) -> Bulletin:
    """The bulletin's figures and the ledger they count, in one snapshot: the caller's transaction
    must be REPEATABLE READ (`snapshot` below). Counted by the database (services/audit/counted.py), by
    the rules `figures` says in Python, as `recount` counts them again from the ledger; the month
    before on a second connection of `beside` in the same snapshot, when given."""
    now = now or datetime.now(UTC)
    heads = await read_heads(session)
    as_of = min(period.end, now)
    return Bulletin(await counted_figures(session, node, children, period, as_of, beside), heads, now)


async def snapshot(session: AsyncSession) -> None:
    """Make the session's transaction one snapshot (its first statement)."""
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))


class LedgerDiffers(Exception):
    """The ledger held is not the one the bulletin counted."""


def of_entry(event_key: str, record: dict) -> list[Happening]:
    """The happenings of a ledger entry's record, by the rule that made them when it was appended
    (services/audit/decide.py `counted`): an event its contract refuses counts for nothing."""
    if not counted_on(record["topic"], record["event"].get("event_type")):
        return []
    try:
        return happenings_of(event_key, parse_event(json.dumps(record["event"])))
    except ValueError:
        return []


async def happenings_on_ledger(session: AsyncSession, heads: Heads) -> list[Happening]:
    """The happenings the ledger's counted entries within `heads` make, each entry checked against
    its hash; the head entries must be the ones named."""
    c = t.ledger.c
    if not heads.chains:
        return []
    found = dict(
        (
            await session.execute(
                select(c.chain, c.hash).where(
                    tuple_(c.chain, c.position).in_(
                        [(chain, size) for chain, (size, _) in heads.chains.items()]
                    )
                )
            )
        ).all()
    )
    for chain, (size, hash_) in heads.chains.items():
        if found.get(chain) is None or found[chain].hex() != hash_:
            raise LedgerDiffers(f"chain {chain}: its entry {size} is not the one the bulletin counted")
    within = or_(*(and_(c.chain == chain, c.position <= size) for chain, (size, _) in heads.chains.items()))
    query = select(c.chain, c.position, c.event_key, c.record, c.prev_hash, c.hash).where(
        c.event_type.in_(list(COUNTED)), within
    )
    happenings: list[Happening] = []
    for row in (await session.execute(query)).all():
        if entry_hash(row.position, row.record, row.prev_hash, row.chain) != row.hash:
            raise LedgerDiffers(f"chain {row.chain}: entry {row.position} does not match its hash")
        happenings += of_entry(row.event_key, row.record)
    return happenings


async def recount(
    session: AsyncSession, heads: Heads, node: str, children: Sequence[str], period: Period, as_of: datetime
) -> Figures:
    """The figures again, from the ledger's entries within `heads` alone."""
    everything = await happenings_on_ledger(session, heads)
    placed = {
        h.case_id
        for h in everything
        if h.kind in (Kind.reported, Kind.transferred) and h.jurisdiction and is_within(h.jurisdiction, node)
    }
    return figures([h for h in everything if h.case_id in placed], node, children, period, as_of)


async def backfill(session: AsyncSession, after: int = 0, chunk: int = 5_000) -> tuple[int, int]:
    """Make the happenings of counted entries appended before the ledger wrote them (audit_0009),
    `chunk` entries from `after` (a `seq`): (the last seq read, the happenings added). An entry's
    happenings already there are left as they are, so running it twice adds nothing."""
    c = t.ledger.c
    rows = (
        await session.execute(
            select(c.seq, c.event_key, c.record)
            .where(c.seq > after, c.event_type.in_(list(COUNTED)))
            .order_by(c.seq)
            .limit(chunk)
        )
    ).all()
    made = [h for row in rows for h in of_entry(row.event_key, row.record)]
    if made:
        await insert_happenings(session, [happening_row(h) for h in made], skip_known=True)
    return (rows[-1].seq if rows else after), len(made)
