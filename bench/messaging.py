"""Throughput of the messaging core on the real stack: outbox writes, relay publishing and
idempotent batch consumption. Prints figures; asserts nothing.

    .venv/bin/python -m bench.messaging [--events 20000] [--per-transaction 100]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.envelope import new_envelope
from shared.contracts.events import FollowupScheduled
from shared.contracts.vocabulary import RiskLevel
from shared.db.engine import make_engine, make_session_factory
from shared.db.tables import messaging_metadata
from shared.messaging.broker import make_broker
from shared.messaging.consumer import Delivery, IdempotentConsumer
from shared.messaging.outbox import add_events
from shared.messaging.relay import OutboxRelay
from shared.settings import Settings


def _event(case_id: uuid.UUID, n: int):
    payload = FollowupScheduled(
        case_id=case_id,
        plan_id=uuid.uuid4(),
        risk_level=RiskLevel.orange,
        cadence_days=n % 30 + 1,
        next_visit_due_at=datetime.now(UTC),
    )
    return new_envelope(payload, case_id=case_id, producer="bench")


async def run(events: int, per_transaction: int) -> None:
    settings = Settings()
    schema, topic = f"bench_{uuid.uuid4().hex[:8]}", f"bench.{uuid.uuid4().hex[:8]}"
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    metadata = messaging_metadata(schema)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 6, 1), NewTopic(f"{topic}.dlq", 1, 1)])
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    outbox, processed = metadata.tables[f"{schema}.outbox"], metadata.tables[f"{schema}.processed_events"]
    try:
        cases = [uuid.uuid4() for _ in range(1000)]
        started = time.perf_counter()
        for first in range(0, events, per_transaction):
            batch = [
                _event(cases[n % len(cases)], n) for n in range(first, min(events, first + per_transaction))
            ]
            async with sessions.begin() as session:
                await add_events(session, outbox, *batch, topic=topic)
        _report("outbox writes", events, time.perf_counter() - started)

        broker = make_broker(settings.kafka_bootstrap, client_id="bench-relay")
        await broker.connect()
        relay = OutboxRelay(engine=engine, outbox=outbox, broker=broker, batch_size=settings.relay_batch_size)
        stop = asyncio.Event()
        started = time.perf_counter()
        task = asyncio.create_task(relay.run(stop))
        while await _pending(engine, outbox):
            await asyncio.sleep(0.05)
        _report("relay publish (acks=all, idempotent)", events, time.perf_counter() - started)
        stop.set()
        await task
        await broker.stop()

        applied = 0

        async def handle(session: AsyncSession, event, delivery: Delivery) -> None:
            nonlocal applied
            applied += 1

        consumer_broker = make_broker(settings.kafka_bootstrap, client_id="bench-consumer")
        consumer = IdempotentConsumer(
            name="bench",
            topic=topic,
            handler=handle,
            session_factory=sessions,
            processed=processed,
            broker=consumer_broker,
        )
        consumer.subscribe(batch=True, group_id=f"bench-{uuid.uuid4().hex[:8]}")
        started = time.perf_counter()
        await consumer_broker.start()
        while applied < events:
            await asyncio.sleep(0.05)
        _report("idempotent batch consume + commit", events, time.perf_counter() - started)
        await consumer_broker.stop()
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.delete_topics([topic, f"{topic}.dlq"])
        await admin.close()
        await engine.dispose()


async def _pending(engine, outbox) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )


def _report(stage: str, count: int, seconds: float) -> None:
    print(f"{stage:<40} {count:>7} events in {seconds:6.2f} s = {count / seconds:8.0f} events/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--per-transaction", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.per_transaction))


if __name__ == "__main__":
    main()
