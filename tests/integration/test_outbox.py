"""The transactional outbox on the real broker: what a transaction commits is published
exactly, in order per case; what it rolls back is never published."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select, update

from shared.contracts.envelope import Envelope, new_envelope, parse_event
from shared.contracts.events import FollowupScheduled
from shared.contracts.vocabulary import RiskLevel
from shared.messaging.broker import kafka_producer
from shared.messaging.outbox import add_events
from tests.integration.support import Database, read_topic, running_relay, wait_for


def scheduled(case_id: uuid.UUID, sequence: int) -> Envelope:
    """An event whose cadence_days carries a sequence number, to check order."""
    payload = FollowupScheduled(
        case_id=case_id,
        plan_id=uuid.uuid4(),
        risk_level=RiskLevel.red,
        cadence_days=sequence,
        next_visit_due_at=datetime.now(UTC),
    )
    return new_envelope(payload, case_id=case_id, producer="test")


async def commit_change(db: Database, topic: str, *events: Envelope, fail: bool = False) -> None:
    """A state change (an `effects` row per event) and its events, in one transaction."""
    async with db.sessions() as session:
        async with session.begin():
            for event in events:
                await session.execute(
                    insert(db.effects).values(
                        event_id=str(event.event_id), case_id=event.case_id, note="state change"
                    )
                )
            await add_events(session, db.outbox, *events, topic=topic)
            if fail:
                raise RuntimeError("the change failed after its events were staged")


async def pending(db: Database) -> int:
    async with db.engine.connect() as conn:
        return await conn.scalar(
            select(func.count()).select_from(db.outbox).where(db.outbox.c.published_at.is_(None))
        )


async def test_rolled_back_transaction_publishes_nothing(infra, db: Database, topic: str) -> None:
    case = uuid.uuid4()
    doomed = scheduled(case, 1)
    with pytest.raises(RuntimeError):
        await commit_change(db, topic, doomed, fail=True)
    marker = scheduled(case, 2)
    await commit_change(db, topic, marker)

    async with running_relay(db, infra.kafka_bootstrap):
        await wait_for(lambda: _none_pending(db), what="the outbox to drain")

    records = await read_topic(infra.kafka_bootstrap, topic, count=1, settle=1.0)
    published = [parse_event(r.value).event_id for r in records]
    assert published == [marker.event_id], "only the committed event may reach Kafka"
    async with db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(db.outbox)) == 1


async def _none_pending(db: Database) -> bool:
    return await pending(db) == 0


async def test_committed_events_are_published_exactly_once_in_order_per_case(
    infra, db: Database, topic: str
) -> None:
    cases = [uuid.uuid4() for _ in range(5)]
    committed: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for sequence in range(1, 41):
        # Interleave cases, several events per transaction, like a busy service.
        events = [scheduled(case, sequence) for case in cases[sequence % 2 :: 2]]
        await commit_change(db, topic, *events)
        for event in events:
            committed[event.case_id].append(event.event_id)
    total = sum(len(ids) for ids in committed.values())

    # A small batch size makes the relay cross many batch boundaries.
    async with running_relay(db, infra.kafka_bootstrap, batch_size=7):
        await wait_for(lambda: _none_pending(db), what="the outbox to drain")

    records = await read_topic(infra.kafka_bootstrap, topic, count=total, settle=1.0)
    assert len(records) == total, "each committed event is published exactly once"
    seen: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    partitions: dict[uuid.UUID, set[int]] = defaultdict(set)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = parse_event(record.value)
        assert record.key == str(event.case_id).encode(), "the Kafka key is the case id"
        headers = dict(record.headers)
        assert headers["event_id"] == str(event.event_id).encode()
        assert headers["event_type"] == b"followup.scheduled"
        seen[event.case_id].append(event.event_id)
        partitions[event.case_id].add(record.partition)
    assert dict(seen) == dict(committed), "per case, Kafka holds the events in commit order"
    assert all(len(p) == 1 for p in partitions.values()), "one case's events share one partition"


async def test_relay_producer_waits_for_all_replicas_and_is_idempotent(
    infra, db: Database, topic: str
) -> None:
    """acks=all and the idempotent producer are set explicitly (aiokafka defaults to acks=1,
    no idempotence); the real broker grants the relay an idempotent producer id."""
    await commit_change(db, topic, scheduled(uuid.uuid4(), 1))
    async with running_relay(db, infra.kafka_bootstrap) as relay:
        await wait_for(lambda: _none_pending(db), what="the outbox to drain")
        producer = kafka_producer(relay.broker)
        assert producer is not None
        assert producer._sender._acks == -1, "acks=all"
        assert producer._txn_manager is not None, "the idempotent producer is on"
        assert producer._txn_manager.producer_id >= 0, "the broker assigned an idempotent producer id"


async def test_published_rows_past_the_retention_are_purged_and_pending_ones_never(
    infra, db: Database, topic: str
) -> None:
    old_published, recent_published, old_pending = (scheduled(uuid.uuid4(), n) for n in (1, 2, 3))
    await commit_change(db, topic, old_published, recent_published, old_pending)
    o = db.outbox.c
    async with db.engine.begin() as conn:
        await conn.execute(
            update(db.outbox)
            .where(o.event_id == old_published.event_id)
            .values(published_at=func.now() - timedelta(days=8))
        )
        await conn.execute(
            update(db.outbox)
            .where(o.event_id == recent_published.event_id)
            .values(published_at=func.now() - timedelta(days=6))
        )
        await conn.execute(
            update(db.outbox)
            .where(o.event_id == old_pending.event_id)
            .values(created_at=func.now() - timedelta(days=30))
        )
    async with running_relay(db, infra.kafka_bootstrap) as relay, db.engine.connect() as conn:
        relay.PURGE_BATCH = 1  # cross batch boundaries
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        # Checked before the running relay publishes the pending row, or after: either way
        # a pending row is never purged, being published only now.
        assert await relay.purge_published(conn, timedelta(days=7)) == 1
        remaining = set(await conn.scalars(select(o.event_id)))
    assert remaining == {recent_published.event_id, old_pending.event_id}


async def test_the_leading_relay_purges_what_it_published_once_the_retention_passes(
    infra, db: Database, topic: str
) -> None:
    await commit_change(db, topic, *(scheduled(uuid.uuid4(), n) for n in range(1, 6)))
    async with running_relay(db, infra.kafka_bootstrap, retention=timedelta(0), purge_every_s=0.1):
        await wait_for(lambda: _outbox_empty(db), what="the published rows to be purged")
    assert len(await read_topic(infra.kafka_bootstrap, topic, count=5)) == 5, "purged only after publishing"


async def _outbox_empty(db: Database) -> bool:
    async with db.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(db.outbox)) == 0


async def test_de_duplication_records_past_their_retention_are_purged_and_recent_ones_kept(
    infra, db: Database, topic: str
) -> None:
    p = db.processed.c
    rows = [
        {"consumer": "test.consumer", "event_id": f"event-{n}", "topic": topic, "partition": 0, "offset": n}
        for n in range(5)
    ]
    async with db.engine.begin() as conn:
        await conn.execute(insert(db.processed), rows)
        await conn.execute(
            update(db.processed)
            .where(p.event_id.in_(["event-0", "event-1", "event-2"]))
            .values(processed_at=func.now() - timedelta(days=31))
        )
    async with (
        running_relay(
            db, infra.kafka_bootstrap, processed=db.processed, processed_retention=timedelta(days=30)
        ) as relay,
        db.engine.connect() as conn,
    ):
        relay.PURGE_BATCH = 2  # cross batch boundaries
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        assert await relay.purge_processed(conn, timedelta(days=30)) == 3
        kept = set(await conn.scalars(select(p.event_id)))
    assert kept == {"event-3", "event-4"}, "a record Kafka could still redeliver is kept"


async def test_the_leading_relay_purges_old_de_duplication_records_when_idle(
    infra, db: Database, topic: str
) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            insert(db.processed).values(
                consumer="test.consumer",
                event_id="old",
                topic=topic,
                partition=0,
                offset=0,
                processed_at=func.now() - timedelta(days=60),
            )
        )
    async with running_relay(
        db,
        infra.kafka_bootstrap,
        processed=db.processed,
        processed_retention=timedelta(days=30),
        purge_every_s=0.1,
    ):
        await wait_for(lambda: _no_processed(db), what="the old record to be purged")


async def _no_processed(db: Database) -> bool:
    async with db.engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(db.processed)) == 0
