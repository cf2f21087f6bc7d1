"""A case that moves to another territory (`case.transferred`, casework's event once the receiving
territory's supervisor accepts): every service that keeps a case's territory follows it here, the
one home of how.

A service's record of a case keeps the territory it has (the first one it learned, or the last
transfer's): an event about the case that still names the old territory (published before the
transfer, read after it) never moves it back. So a case's territory changes only by transfers,
and one case's transfers travel in order on its partition.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.types import Text

from shared.contracts.envelope import Envelope
from shared.contracts.events import CaseTransferred
from shared.telemetry import traces_of

Moves = dict[uuid.UUID, str]
"""Each moved case and the territory it is in now."""


def destinations(events: Iterable[Envelope]) -> Moves:
    """Where each case of a batch of transfers is now: the last of its transfers (in offset order)."""
    return {
        event.case_id: event.payload.jurisdiction
        for event in events
        if isinstance(event.payload, CaseTransferred)
    }


async def follow(
    session: Any, table: Table, moves: Moves, *, key: str = "case_id", column: str = "jurisdiction"
) -> None:
    """One UPDATE for the whole batch: each moved case's row in `table` takes its new territory."""
    if not moves:
        return
    ids, places = zip(*moves.items(), strict=True)
    moved = select(
        func.unnest(bindparam("moved_ids", list(ids), type_=ARRAY(UUID(as_uuid=True)))).label("id"),
        func.unnest(bindparam("moved_to", list(places), type_=ARRAY(Text))).label("to"),
    ).subquery()
    await session.execute(update(table).where(table.c[key] == moved.c.id).values({column: moved.c.to}))


def transfers_consumer(ctx: Any, service: str, move: Callable[[Any, Moves], Awaitable[None]]):
    """The service's consumer of `case.transferred`, in batches: `move` applies a batch's moves in
    the consumer's transaction."""

    async def on_transfers(session: Any, items: Sequence[tuple[Envelope, Any]]) -> None:
        traces_of(delivery for _, delivery in items)  # each event's consumer span, inside its own trace
        await move(session, destinations(event for event, _ in items))

    return ctx.consumer(
        name=f"{service}.transfers",
        topic=CaseTransferred.TOPIC,
        handler=None,
        batch_handler=on_transfers,
        batch=True,
    )
