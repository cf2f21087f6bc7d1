"""The running month's bulletin, answered as last counted when that was at most `fresh_s` ago
(issue 24, audit_0012).

A month that is over is counted once and kept for as long as nothing written since reaches back into
it (services/audit/counted.py). The running month cannot be kept that way: every report changes it,
and so does the clock (a referral falls overdue, a red case passes its 72 hours, without any event).
Counted on asking, the city's running month of 100,000 cases takes about 0.2 s of two cores. So the
running month's bulletin is kept whole — its figures as of a moment, and the ledger's heads read in
the same snapshot — and answered while it is younger than `fresh_s`; audit's sweep counts the city's
and each county's again before they age past it (services/audit/keeper.py). The bulletin says the
moment it counted as of, and `cpnet bulletin verify` recounts it from the ledger up to its heads as
exactly as one counted on asking; it is simply a little older."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.audit import tables as t
from services.audit.bulletins import Bulletin, Heads, compute
from services.audit.indicators import Period, figures_as_dict, figures_from_dict


def running(period: Period, now: datetime) -> bool:
    return period.start <= now < period.end


async def fresh(
    session: AsyncSession, node: str, children: Sequence[str], period: Period, since: datetime
) -> Bulletin | None:
    """The node's running-month bulletin with these columns, kept as of `since` or later, if any."""
    r = t.running_bulletins.c
    found = (
        await session.execute(
            select(r.as_of, r.heads, r.figures).where(
                r.node == node, r.children == list(children), r.start == period.start, r.as_of >= since
            )
        )
    ).first()
    if found is None:
        return None
    heads = Heads({chain: (int(size), str(hash_)) for chain, (size, hash_) in found.heads.items()})
    return Bulletin(figures_from_dict(found.figures), heads, found.as_of)


async def keep(
    sessions: async_sessionmaker[AsyncSession], node: str, children: Sequence[str], made: Bulletin
) -> None:
    """Keep a running month's bulletin, unless one counted as of a later moment is kept already."""
    row = insert(t.running_bulletins).values(
        node=node,
        children=list(children),
        start=made.figures.period.start,
        as_of=made.figures.as_of,
        heads=made.heads.chains,
        figures=figures_as_dict(made.figures),
    )
    newer = {name: row.excluded[name] for name in ("start", "as_of", "heads", "figures")}
    async with sessions.begin() as keeper:
        await keeper.execute(
            row.on_conflict_do_update(
                index_elements=["node", "children"],
                set_=newer,
                where=t.running_bulletins.c.as_of < row.excluded.as_of,
            )
        )


async def answered(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    node: str,
    children: Sequence[str],
    period: Period,
    fresh_s: float,
) -> Bulletin:
    """A node's bulletin for a period in `session`'s snapshot (REPEATABLE READ): of the running month,
    the one kept when counted at most `fresh_s` ago (0: never), else counted now and kept."""
    now = datetime.now(UTC)
    keeping = fresh_s > 0 and running(period, now)
    if keeping and (kept := await fresh(session, node, children, period, now - timedelta(seconds=fresh_s))):
        return kept
    made = await compute(session, node, children, period, now, beside=sessions)
    if keeping:
        await keep(sessions, node, children, made)
    return made


__all__ = ["answered", "fresh", "keep", "running"]
