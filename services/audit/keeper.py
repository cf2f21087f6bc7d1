"""The bulletins counted before anyone asks (issue 24), by audit's sweep, for the city and each county.

- The running month's, counted again once older than the sweep's `refresh_s` (services/audit/running.py),
  so that the one a reader is answered is never older than `CPNET_AUDIT_RUNNING_FRESH_S`.
- The months over (`keep_months`): counted and kept (services/audit/counted.py, audit_0011), the latest
  month first, so that a director opening last month's bulletin reads kept counts. A change that
  reaches back into a month (a late event, a case reported again or moved) has it counted again at the
  next sweep. Each sweep counts months over for about `budget_s`, then leaves the machine to the
  pipeline."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.audit import running
from services.audit import tables as t
from services.audit.bulletins import compute, snapshot
from services.audit.counted import counted_figures, tend_kept, unkept
from services.audit.indicators import Period
from shared.contracts.vocabulary import CHINA_STANDARD_TIME
from shared.territory.registry import TerritoryRegistry


def _nodes(registry: TerritoryRegistry) -> list[tuple[str, tuple[str, ...]]]:
    """The city and each county, with their children (a bulletin's columns)."""
    city = registry.city.code
    return [
        (node, tuple(child.code for child in registry.children(node)))
        for node in (city, *(county.code for county in registry.children(city)))
    ]


def _this_month(now: datetime) -> Period:
    return Period.parse(now.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m"))


def wanted(
    registry: TerritoryRegistry, now: datetime, months: int
) -> list[tuple[str, tuple[str, ...], Period]]:
    """The city and each county, with their children, for each of the `months` before the running one."""
    over, month = [], _this_month(now)
    for _ in range(months):
        month = month.before()
        over.append(month)
    return [(node, children, period) for period in over for node, children in _nodes(registry)]


async def keep_running(
    sessions: async_sessionmaker[AsyncSession], registry: TerritoryRegistry, refresh_s: float
) -> int:
    """Count again the running month's bulletin of the city and each county kept as of more than
    `refresh_s` ago, or not kept; answers how many were counted."""
    period = _this_month(datetime.now(UTC))
    r = t.running_bulletins.c
    async with sessions() as looking:
        kept = dict(
            (
                await looking.execute(
                    select(r.node, r.as_of).where(
                        r.start == period.start, r.node.in_([n for n, _ in _nodes(registry)])
                    )
                )
            ).all()
        )
    counted = 0
    for node, children in _nodes(registry):
        now = datetime.now(UTC)
        if node in kept and kept[node] >= now - timedelta(seconds=refresh_s):
            continue
        async with sessions() as reading, reading.begin():
            await snapshot(reading)
            made = await compute(reading, node, children, period, now, beside=sessions)
        await running.keep(sessions, node, children, made)
        counted += 1
    return counted


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


__all__ = ["keep_months", "keep_running", "wanted"]
