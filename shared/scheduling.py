"""Periodic sweeps inside a service (deadlines, due visits): each run is one transaction, so
whatever it decides and the events it emits commit together and a restart repeats nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shared.outage import DATABASE, OUTAGES, Throttle
from shared.service import ServiceContext

log = structlog.get_logger(__name__)

Sweep = Callable[[AsyncSession], Awaitable[int]]


def periodic(
    ctx: ServiceContext, name: str, sweep: Sweep, every_s: float
) -> Callable[[asyncio.Event], Awaitable[None]]:
    bugs = Throttle(60.0)

    async def loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with ctx.sessions.begin() as session:
                    done = await sweep(session)
                OUTAGES.back(DATABASE)
                if done:
                    ctx.relay.wake()
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
