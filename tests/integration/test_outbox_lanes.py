"""The outbox's urgent lane on the real broker and database (issue 22): an emergency's events leave
at once, ahead of a backlog of ordinary rows, with the rows of the same case committed before them —
so no topic ever sees a case's events out of the order they were committed in — and the ordinary
relay passes over a case the urgent relay holds, until it has published it or the handover is past."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select

from shared.contracts.envelope import Envelope, parse_event
from shared.messaging.outbox import add_events, add_urgent_events
from tests.integration.support import Database, read_topic, running_relay, wait_for
from tests.integration.test_outbox import commit_change, pending, scheduled

BACKLOG = 600  # more than a relay's batch: the ordinary relay needs rounds for it


async def commit_urgent(db: Database, topic: str, *events: Envelope) -> None:
    """What an urgent lane's transaction stages (shared/unit_of_work.py `UrgentOutbox`), on `topic`."""
    async with db.sessions() as session, session.begin():
        # The topic is the test's: add_urgent_events publishes to the contract's, so re-point the rows.
        await add_urgent_events(session, db.outbox, events, [{}] * len(events))
        await session.execute(
            db.outbox.update()
            .where(db.outbox.c.event_id.in_([e.event_id for e in events]))
            .values(topic=topic)
        )


async def published_of(bootstrap: str, topic: str, count: int) -> list[uuid.UUID]:
    return [
        parse_event(r.value).event_id for r in await read_topic(bootstrap, topic, count=count, settle=1.0)
    ]


async def test_an_urgent_event_leaves_ahead_of_the_backlog_after_its_case_earlier_events(
    infra, db: Database, topic: str
) -> None:
    case = uuid.uuid4()
    earlier = [scheduled(case, 1), scheduled(case, 2)]
    await commit_change(db, topic, *earlier)
    crowd = [scheduled(uuid.uuid4(), 1) for _ in range(BACKLOG)]
    await commit_change(db, topic, *crowd)
    emergency = scheduled(case, 3)

    # Only the urgent relay runs: the backlog stays where it is; the case's events leave, in order.
    async with running_relay(db, infra.kafka_bootstrap, urgent=True) as relay:
        await commit_urgent(db, topic, emergency)
        relay.wake()
        await wait_for(lambda: _pending_is(db, BACKLOG), what="the case's three rows to be published")
    ours = [e.event_id for e in [*earlier, emergency]]
    assert await published_of(infra.kafka_bootstrap, topic, count=3) == ours
    assert await pending(db) == BACKLOG, "the urgent relay publishes nothing of the ordinary backlog"

    # The ordinary relay then publishes the backlog and the case's later event, after the emergency's.
    later = scheduled(case, 4)
    await commit_change(db, topic, later)
    async with running_relay(db, infra.kafka_bootstrap):
        await wait_for(lambda: _pending_is(db, 0), what="the backlog to drain")
    everything = await published_of(infra.kafka_bootstrap, topic, count=BACKLOG + 4)
    assert len(everything) == len(set(everything)) == BACKLOG + 4, "each row published once"
    assert [e for e in everything if e in {*ours, later.event_id}] == [*ours, later.event_id]


async def test_the_ordinary_relay_passes_over_a_held_case_until_the_handover(
    infra, db: Database, topic: str
) -> None:
    held, other = uuid.uuid4(), uuid.uuid4()
    first = scheduled(held, 1)
    await commit_change(db, topic, first)
    emergency = scheduled(held, 2)
    await commit_urgent(db, topic, emergency)  # no urgent relay runs: its process is down
    later, elsewhere = scheduled(held, 3), scheduled(other, 1)
    await commit_change(db, topic, later, elsewhere)

    async with running_relay(db, infra.kafka_bootstrap, handover=timedelta(seconds=3)):
        await wait_for(lambda: _pending_is(db, 3), what="the other case's event to be published")
        assert await published_of(infra.kafka_bootstrap, topic, count=1) == [elsewhere.event_id], (
            "nothing of the held case leaves while its urgent row is younger than the handover"
        )
        # Past the handover the ordinary relay publishes the held case itself, in commit order.
        await wait_for(lambda: _pending_is(db, 0), timeout=30, what="the held case after the handover")
    published = await published_of(infra.kafka_bootstrap, topic, count=4)
    assert [e for e in published if e != elsewhere.event_id] == [
        first.event_id,
        emergency.event_id,
        later.event_id,
    ]


async def test_a_case_s_rows_already_published_are_not_moved(infra, db: Database, topic: str) -> None:
    """Only pending rows join the urgent lane: a published one is never published again."""
    case = uuid.uuid4()
    done = scheduled(case, 1)
    await commit_change(db, topic, done)
    async with running_relay(db, infra.kafka_bootstrap):
        await wait_for(lambda: _pending_is(db, 0), what="the first event to be published")
    async with db.sessions() as session, session.begin():
        await add_events(session, db.outbox, scheduled(case, 2), topic=topic)
    emergency = scheduled(case, 3)
    await commit_urgent(db, topic, emergency)
    async with db.engine.connect() as conn:
        urgent = await conn.scalar(select(func.count()).select_from(db.outbox).where(db.outbox.c.urgent))
    assert urgent == 2, "the pending row of the case and the emergency's; not the published one"


async def _pending_is(db: Database, count: int) -> bool:
    return await pending(db) == count
