"""Periodic sweeps inside a service (deadlines, due visits): each run is one transaction, so
whatever it decides and the events it emits commit together and a restart repeats nothing. A sweep
that emits events runs as a unit of work (`periodic_work`, shared/unit_of_work.py): it stages them,
and they are written before the commit and the relay woken after it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shared.outage import DATABASE, OUTAGES, Throttle
from shared.service import ServiceContext
from shared.unit_of_work import Work

log = structlog.get_logger(__name__)

# A run on a session of its own; it answers how many it acted on.
Sweep = Callable[[AsyncSession], Awaitable[int]]
# A run as a unit of work: its rows on `work.tx` (a session), its events staged on `work.uow`; it
# answers how many it acted on.
WorkSweep = Callable[[Work], Awaitable[int]]


def periodic(
    ctx: ServiceContext, name: str, sweep: Sweep, every_s: float
) -> Callable[[asyncio.Event], Awaitable[None]]:
    """Run `sweep` every `every_s` in a transaction of its own, and wake the relay after a run
    that acted."""

    async def run() -> int:
        async with ctx.sessions.begin() as session:
            done = await sweep(session)
        if done:
            ctx.relay.wake()
        return done

    return _every(name, run, every_s)


def periodic_work(
    ctx: ServiceContext, name: str, sweep: WorkSweep, every_s: float
) -> Callable[[asyncio.Event], Awaitable[None]]:
    """Run `sweep` every `every_s` as a unit of work of its own (`ctx.unit_of_work()`), which writes
    the events it staged before the commit and wakes the relay after it."""

    async def run() -> int:
        async with ctx.unit_of_work() as work:
            return await sweep(work)

    return _every(name, run, every_s)


def _every(
    name: str, run: Callable[[], Awaitable[int]], every_s: float
) -> Callable[[asyncio.Event], Awaitable[None]]:
    bugs = Throttle(60.0)

    async def loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                done = await run()
                OUTAGES.back(DATABASE)
                if done:
                    log.info("sweep acted", sweep=name, count=done)
            except Exception as exc:
                # An outage postpones the sweep (shared.outage says so once); a bug must be
                # loud, but must not stop the service's other work nor flood the log.
                if not OUTAGES.lost(exc, default=DATABASE, sweep=name) and bugs.admit(type(exc)):
                    log.exception("sweep failed", sweep=name)
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            except TimeoutError:
                pass

    return loop
