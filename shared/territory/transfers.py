"""A case that moves to another territory (`case.transferred`, casework's event once the receiving
territory's supervisor accepts): every service that keeps a case's territory follows it here, the
one home of how.

A service's record of a case keeps the territory it has (the first one it learned, or the last
transfer's): an event about the case that still names the old territory (published before the
transfer, read after it) never moves it back. So a case's territory changes only by transfers,
and one case's transfers travel in order on its partition.

Each service follows transfers through the one unit of work (shared/unit_of_work.py): a table of
one rule (`moved`: the transfer's move, as a record), and a store whose `save` applies the batch's
moves with the service's own `move`, in the batch's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.types import Text

from shared.contracts.envelope import Envelope
from shared.contracts.events import CaseTransferred
from shared.service import Consumes
from shared.unit_of_work import Decision, Handlers, NoOutbox, Stage

Moves = dict[uuid.UUID, str]
"""Each moved case and the territory it is in now."""

Move = Callable[[Any, Moves], Awaitable[None]]
"""A service's way of applying a batch's moves, in the batch's transaction."""


def moved(state: None, event: Envelope, resources: Any, now: datetime) -> Decision[None]:
    """A transfer: the case and the territory it moved to, for the store to apply."""
    return Decision(None, (), records=((event.case_id, event.payload.jurisdiction),))


TRANSFERS = Handlers({CaseTransferred: moved})


@dataclass(frozen=True)
class MoveStore:
    """A service's record of cases as the transfers' store: nothing to load (a move needs no
    state); `save` applies where each case of the batch is now — its last transfer, in offset
    order — with the service's `move`, once a batch."""

    move: Move

    async def load(self, tx: Any, events: Sequence[Envelope]) -> dict[uuid.UUID, None]:
        return {}

    async def save(
        self,
        tx: Any,
        loaded: Mapping[uuid.UUID, None],
        states: Mapping[uuid.UUID, None],
        records: Sequence[tuple[uuid.UUID, str]],
    ) -> None:
        if records:
            await self.move(tx, dict(records))


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


def transfers_stage(service: str, move: Move) -> Stage:
    """The service's stage of `case.transferred`: `move` applies a batch's moves."""
    return Stage(
        producer=service,
        handlers=TRANSFERS,
        store=MoveStore(move),
        outbox=NoOutbox(),
        resources=lambda: None,
        clock=lambda _: datetime.now(UTC),
    )


def transfers(service: str, move: Move) -> Consumes:
    """The service's consumer group of `case.transferred` (`<service>.transfers`), in batches through
    the one unit of work: `move` applies a batch's moves in the consumer's transaction."""
    return Consumes(f"{service}.transfers", lambda resources: transfers_stage(service, move))
