"""The months over counted before anyone asks (issue 24): the city's and each county's bulletins of the
months before the running one are counted and kept (services/audit/counted.py, audit_0011) by a sweep,
the latest month first, so that a director opening last month's bulletin reads kept counts. A change
that reaches back into a month (a late event, a case reported again or moved) has it counted again at
the next sweep. Each sweep counts for about `budget_s`, then leaves the machine to the pipeline."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.audit.bulletins import snapshot
from services.audit.counted import counted_figures, tend_kept, unkept
from services.audit.indicators import Period
from shared.contracts.vocabulary import CHINA_STANDARD_TIME
from shared.territory.registry import TerritoryRegistry


def wanted(
    registry: TerritoryRegistry, now: datetime, months: int
) -> list[tuple[str, tuple[str, ...], Period]]:
    """The city and each county, with their children, for each of the `months` before the running one."""
    city = registry.city.code
    nodes = [city, *(county.code for county in registry.children(city))]
    over, month = [], Period.parse(now.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m"))
    for _ in range(months):
        month = month.before()
        over.append(month)
    return [
        (node, tuple(child.code for child in registry.children(node)), period)
        for period in over
        for node in nodes
    ]


async def keep_months(
    sessions: async_sessionmaker[AsyncSession],
    registry: TerritoryRegistry,
    now: datetime,
    months: int,
    budget_s: float,
) -> int:
    """Count and keep the months over whose kept counts are missing or no longer hold, latest first,
    until none is left or `budget_s` is spent, having first stamped those that hold with a newer
    snapshot and forgotten old marks; answers how many were counted."""
    periods = wanted(registry, now, months)
    async with sessions.begin() as tending:
        await tend_kept(tending)
    counted, started = 0, time.monotonic()
    while periods and time.monotonic() - started < budget_s:
        async with sessions() as looking:
            found = await unkept(looking, periods)
        if found is None:
            break
        node, period = found
        children = next(c for n, c, p in periods if n == node and p == period)
        async with sessions() as reading, reading.begin():
            await snapshot(reading)
            await counted_figures(reading, node, children, period, period.end, beside=sessions)
        counted += 1
    return counted


__all__ = ["keep_months", "wanted"]
