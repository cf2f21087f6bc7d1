"""Idempotent consumers and dead letters on the real broker: a duplicate delivery has no
duplicate effect, a failing message is dead-lettered after bounded tries while its partition
keeps flowing, and an infrastructure failure loses nothing."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.envelope import Envelope, parse_event
from shared.messaging.broker import make_broker
from shared.messaging.consumer import Delivery, IdempotentConsumer
from tests.integration.support import Database, read_topic, running_relay, wait_for
from tests.integration.test_outbox import _none_pending, commit_change, scheduled

APPLIED = "applied by the consumer"


def effect_recorder(
    db: Database, calls: Counter | None = None, fail: Callable[[Envelope, int], None] | None = None
):
    """A handler whose effect is one `effects` row per event it applies."""

    async def handle(session: AsyncSession, event: Envelope, delivery: Delivery) -> None:
        if calls is not None:
            calls[event.event_id] += 1
        if fail is not None:
            fail(event, calls[event.event_id] if calls is not None else 1)
        await session.execute(
            insert(db.effects).values(event_id=str(event.event_id), case_id=event.case_id, note=APPLIED)
        )

    return handle


@asynccontextmanager
async def consuming(
    db: Database, bootstrap: str, topic: str, handler, *, batch: bool = False, max_tries: int = 3
) -> AsyncIterator[IdempotentConsumer]:
    broker = make_broker(bootstrap, client_id="test-consumer")
    consumer = IdempotentConsumer(
        name="test-consumer",
        topic=topic,
        handler=handler,
        session_factory=db.sessions,
        processed=db.processed,
        broker=broker,
        max_tries=max_tries,
        retry_backoff=0.01,
        infrastructure_backoff=0.1,
    )
    consumer.subscribe(batch=batch, group_id=f"test-{uuid.uuid4().hex[:8]}")
    await broker.start()
    try:
        yield consumer
    finally:
        await broker.stop()


async def effects_count(db: Database) -> int:
    async with db.engine.connect() as conn:
        return await conn.scalar(
            select(func.count()).select_from(db.effects).where(db.effects.c.note == APPLIED)
        )


async def effects_by_event(db: Database) -> Counter:
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(select(db.effects.c.event_id).where(db.effects.c.note == APPLIED))
        ).scalars()
        return Counter(rows)


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch"])
async def test_relay_killed_between_publish_and_mark_gives_duplicate_delivery_but_no_duplicate_effect(
    infra, db: Database, topic: str, batch: bool
) -> None:
    # The producing side: a committed change whose events sit in the outbox.
    events = [scheduled(uuid.uuid4(), n) for n in range(1, 21)]
    await commit_change(db, topic, *events)

    # A relay process publishes the rows and is killed before it can mark them published...
    crashed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.integration.crashing_relay",
        infra.database_url,
        db.schema,
        infra.kafka_bootstrap,
    )
    assert await asyncio.wait_for(crashed.wait(), timeout=60) == -signal.SIGKILL
    assert not await _drained(db), "the killed relay marked nothing as published"
    assert len(await read_topic(infra.kafka_bootstrap, topic, count=len(events))) == len(events)

    # ...and its successor publishes them all again on restart.
    async with running_relay(db, infra.kafka_bootstrap):
        await wait_for(lambda: _drained(db), what="the restarted relay to drain the outbox")
    records = await read_topic(infra.kafka_bootstrap, topic, count=2 * len(events), settle=0.5)
    deliveries = Counter(parse_event(r.value).event_id for r in records)
    assert deliveries == Counter({e.event_id: 2 for e in events}), "every event was delivered twice"

    # The consuming side sees both copies and applies each event once.
    calls: Counter = Counter()
    async with consuming(
        db, infra.kafka_bootstrap, topic, effect_recorder(db, calls), batch=batch
    ) as consumer:
        await wait_for(lambda: _received(consumer, len(records)), what="both copies to be consumed")
    assert await effects_by_event(db) == Counter({str(e.event_id): 1 for e in events})
    assert sum(calls.values()) == len(events), "the handler ran once per event, not per delivery"
    assert consumer.stats["duplicates"] == len(events)


async def _drained(db: Database) -> bool:
    async with db.engine.connect() as conn:
        left = await conn.scalar(
            select(func.count()).select_from(db.outbox).where(db.outbox.c.published_at.is_(None))
        )
    return left == 0


async def _received(consumer: IdempotentConsumer, count: int) -> bool:
    return consumer.stats["received"] >= count


async def produce(bootstrap: str, topic: str, *values: bytes, key: bytes) -> list[tuple[int, int]]:
    """Produce raw values with one key (so onto one partition); returns (partition, offset)s."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [await producer.send_and_wait(topic, value, key=key) for value in values]
    finally:
        await producer.stop()
    return [(meta.partition, meta.offset) for meta in sent]


async def test_poison_message_is_dead_lettered_after_bounded_tries_and_the_partition_keeps_flowing(
    infra, db: Database, topic: str
) -> None:
    case = uuid.uuid4()
    poison, healthy = scheduled(case, 1), scheduled(case, 2)

    def fail(event: Envelope, attempt: int) -> None:
        if event.event_id == poison.event_id:
            raise ValueError("the handler cannot apply this event")

    positions = await produce(
        infra.kafka_bootstrap,
        topic,
        poison.to_json(),
        b"{not json",
        healthy.to_json(),
        key=str(case).encode(),
    )
    assert len({p for p, _ in positions}) == 1, "all three share one partition"

    calls: Counter = Counter()
    async with consuming(db, infra.kafka_bootstrap, topic, effect_recorder(db, calls, fail), max_tries=3):
        await wait_for(lambda: _effects_at_least(db, 1), what="the message behind the poison one")
    assert await effects_by_event(db) == Counter({str(healthy.event_id): 1}), "the next message was processed"
    assert calls[poison.event_id] == 3, "the failing message was tried exactly max_tries times"

    dead = await read_topic(infra.kafka_bootstrap, f"{topic}.dlq", count=2, settle=0.5)
    assert [r.value for r in dead] == [poison.to_json(), b"{not json"], (
        "both dead letters keep the original bytes"
    )
    failed, undecodable = ({k: v.decode() for k, v in r.headers} for r in dead)
    assert failed["x-dlq-original-topic"] == topic
    assert (int(failed["x-dlq-original-partition"]), int(failed["x-dlq-original-offset"])) == positions[0]
    assert failed["x-dlq-tries"] == "3"
    assert failed["x-dlq-error"] == "ValueError: the handler cannot apply this event"
    assert (
        int(undecodable["x-dlq-original-partition"]),
        int(undecodable["x-dlq-original-offset"]),
    ) == positions[1]
    assert undecodable["x-dlq-tries"] == "1", "a message that is not an event is not worth retrying"
    assert undecodable["x-dlq-error"].startswith("MalformedMessage: not JSON")
    assert dead[0].key == str(case).encode()


async def _effects_at_least(db: Database, count: int) -> bool:
    return await effects_count(db) >= count


async def test_infrastructure_failure_neither_loses_nor_dead_letters_the_message(
    infra, db: Database, topic: str
) -> None:
    """The offset is committed only after the effect: a handler that cannot reach its
    database leaves the message to be delivered again, not skipped."""
    first, second = scheduled(uuid.uuid4(), 1), scheduled(uuid.uuid4(), 2)

    def database_down_once(event: Envelope, attempt: int) -> None:
        if event.event_id == first.event_id and attempt == 1:
            raise ConnectionRefusedError("database connection refused")

    await produce(infra.kafka_bootstrap, topic, first.to_json(), key=str(first.case_id).encode())
    await produce(infra.kafka_bootstrap, topic, second.to_json(), key=str(second.case_id).encode())
    calls: Counter = Counter()
    async with consuming(
        db, infra.kafka_bootstrap, topic, effect_recorder(db, calls, database_down_once)
    ) as consumer:
        await wait_for(lambda: _effects_at_least(db, 2), what="both events to be applied")
    assert await effects_by_event(db) == Counter({str(first.event_id): 1, str(second.event_id): 1})
    assert calls[first.event_id] == 2, "redelivered once after the failure"
    assert consumer.stats["dead_lettered"] == 0


async def test_committed_offsets_survive_a_restart(infra, db: Database, topic: str) -> None:
    """After a clean stop, a consumer of the same group resumes after what it applied."""
    events = [scheduled(uuid.uuid4(), n) for n in range(1, 6)]
    for event in events:
        await produce(infra.kafka_bootstrap, topic, event.to_json(), key=str(event.case_id).encode())
    group = f"test-{uuid.uuid4().hex[:8]}"
    calls: Counter = Counter()
    for _ in range(2):
        broker = make_broker(infra.kafka_bootstrap, client_id="test-consumer")
        consumer = IdempotentConsumer(
            name="test-consumer",
            topic=topic,
            handler=effect_recorder(db, calls),
            session_factory=db.sessions,
            processed=db.processed,
            broker=broker,
        )
        consumer.subscribe(group_id=group)
        await broker.start()
        try:
            await wait_for(lambda: _effects_at_least(db, len(events)), what="the events to be applied")
            await asyncio.sleep(1.0)  # time for any redelivery to show
        finally:
            await broker.stop()
        received = consumer.stats["received"]
    assert received == 0, "the restarted consumer received nothing already committed"
    assert sum(calls.values()) == len(events)


async def test_lag_counts_the_records_waiting_behind_a_busy_handler(infra, db: Database, topic: str) -> None:
    """What GET /metrics reports as cpnet_consumer_lag: while the handler is stuck on the
    first record, the other nineteen of its partition are waiting."""
    release = asyncio.Event()

    async def slow(session: AsyncSession, event: Envelope, delivery: Delivery) -> None:
        await release.wait()

    case = uuid.uuid4()  # one case: one partition
    await commit_change(db, topic, *(scheduled(case, n) for n in range(1, 21)))
    async with running_relay(db, infra.kafka_bootstrap):
        await wait_for(lambda: _none_pending(db), what="the outbox to drain")
    async with consuming(db, infra.kafka_bootstrap, topic, slow) as consumer:
        try:
            lags = []

            async def nineteen_waiting() -> bool:
                lags.append(await consumer.lag())
                return lags[-1] == 19

            await wait_for(nineteen_waiting, timeout=30, what=f"a lag of 19 (saw {lags[-5:]})")
        finally:
            release.set()
        await wait_for(lambda: _lag_is(consumer, 0), timeout=30, what="the lag to fall to 0")


async def _lag_is(consumer: IdempotentConsumer, expected: int) -> bool:
    return await consumer.lag() == expected


@pytest.mark.parametrize("batch", [False, True], ids=["one-by-one", "batch"])
async def test_a_connection_the_server_terminates_mid_transaction_is_not_the_messages_fault(
    infra, db: Database, topic: str, batch: bool
) -> None:
    """What a PostgreSQL restart does to a consumer in the middle of its transaction (the
    server ends the connection: asyncpg's AdminShutdownError, wrapped by SQLAlchemy): the
    message is tried again once the database answers, never dead-lettered."""
    event = scheduled(uuid.uuid4(), 1)
    calls: Counter = Counter()

    async def handler(session: AsyncSession, received: Envelope, delivery: Delivery) -> None:
        calls[received.event_id] += 1
        if calls[received.event_id] <= 3:  # as many tries as a bad message gets
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            async with db.engine.connect() as admin:  # another connection ends this one, as a shutdown would
                await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await effect_recorder(db)(session, received, delivery)

    await produce(infra.kafka_bootstrap, topic, event.to_json(), key=str(event.case_id).encode())
    async with consuming(db, infra.kafka_bootstrap, topic, handler, batch=batch) as consumer:
        await wait_for(lambda: _effects_at_least(db, 1), what="the event to be applied after the reconnect")
    assert await effects_by_event(db) == Counter({str(event.event_id): 1})
    assert calls[event.event_id] == 4, "tried again on a new connection until it worked"
    assert consumer.stats["dead_lettered"] == 0, "a terminated connection is not a bad message"
